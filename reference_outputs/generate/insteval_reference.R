## lme4's InstEval fitted by lmer (ML and REML) to a pinned optimum, for compat_tests/test_insteval_reference.py.
##
##   Rscript reference_outputs/generate/insteval_reference.R      (from the repository root; ~2-4 min)
##
## Data: reference_outputs/insteval/InstEval.csv (lme4's InstEval, 73,421 rows; see PROVENANCE.md).
## Model: MATLAB's fitglme(InstEval, 'y ~ 1 + service + (1|s) + (1|d) + (1|dept:service)', 'Distribution',
## 'Normal') with FitMethod MPL (ML) and REMPL (REML); R: lmer(y ~ service + (1|s) + (1|d) + (1|dept:service)).
## lmer is run with the tight nloptwrap tolerances of lme4_reference_lib.R, then Newton-polished on lme4's
## profiled deviance in theta (glmer_ref): the numbers are lme4's own at the polished optimum.
## Writes reference_outputs/insteval/insteval_lmer_ml.json and insteval_lmer_reml.json.
suppressPackageStartupMessages({library(lme4); library(numDeriv); library(jsonlite)})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
source(file.path(here, "lme4_reference_lib.R"))
out_dir <- normalizePath(file.path(here, "..", "insteval"))
d <- read.csv(file.path(out_dir, "InstEval.csv"), colClasses = c(s = "character", d = "character",
              service = "character", dept = "character"))
for (v in c("s", "d", "service", "dept")) d[[v]] <- factor(d[[v]])
env <- environment()
for (reml in c(FALSE, TRUE)) {
  t0 <- proc.time()[["elapsed"]]
  cl <- bquote(lmer(y ~ service + (1 | s) + (1 | d) + (1 | dept:service), data = d, REML = .(reml),
                    control = tight_lmer))
  fit <- glmer_ref(cl, env)
  vc <- as.data.frame(VarCorr(fit))
  sdv <- setNames(vc$sdcor, ifelse(is.na(vc$var1), "Residual", vc$grp))
  res <- list(
    case = if (reml) "insteval_lmer_reml" else "insteval_lmer_ml",
    description = "lme4's InstEval, y ~ 1 + service + (1|s) + (1|d) + (1|dept:service), Normal",
    data_file = "InstEval.csv",
    matlab = list(formula = "y ~ 1 + service + (1|s) + (1|d) + (1|dept:service)",
                  options = list(Distribution = "Normal", FitMethod = if (reml) "REMPL" else "MPL")),
    r = list(call = paste(deparse(cl, width.cutoff = 500L), collapse = " "), REML = reml),
    results = list(
      coefficients = list(Name = c("(Intercept)", "service_1"), Estimate = unname(fixef(fit)),
                          SE = unname(sqrt(diag(as.matrix(vcov(fit)))))),
      theta = unname(getME(fit, "theta")), theta_names = names(getME(fit, "theta")),
      sd = as.list(sdv[c("s", "d", "dept:service")]), sigma = sigma(fit),
      LogLikelihood = if (reml) NULL else as.numeric(logLik(fit)),
      REMLcriterion = if (reml) as.numeric(REMLcrit(fit)) else NULL),
    diagnostics = list(polish = attr(fit, "polish"), seconds = proc.time()[["elapsed"]] - t0),
    versions = r_versions())
  write_json_file(res, file.path(out_dir, paste0(res$case, ".json")))
  message(sprintf("%s: %.1f s, polish steps %d, |grad| %.2e -> %.2e", res$case, res$diagnostics$seconds,
                  res$diagnostics$polish$steps, res$diagnostics$polish$max_abs_grad_deviance_before,
                  res$diagnostics$polish$max_abs_grad_deviance_after))
}
