# lme4 / MASS baselines for the fitglme benchmarks (run by benchmarks/run.py, once per case).
#
# Usage: Rscript benchmarks/lme4_bench.R csv=PATH formula='y ~ 1 + x + (1|g)' family=poisson \
#          methods=glmer_nAGQ1,glmer_nAGQ0,glmmPQL groups=g [factors=cond] repeats=3 out=PATH.json \
#          [pql_fixed='y ~ 1 + x' pql_random='~ 1 | g' [pql_opt=optim]]
#
# Methods (all with default settings and the default optimizers):
#   glmer_nAGQ1  lme4::glmer(formula, family, nAGQ = 1)   <-> fitglme FitMethod 'Laplace'
#   glmer_nAGQ0  lme4::glmer(formula, family, nAGQ = 0)   <-> 'ApproximateLaplace'
#   glmmPQL      MASS::glmmPQL(fixed, random, family)     <-> 'MPL' with DispersionFlag true
#   lmer_ML      lme4::lmer(formula, REML = FALSE)        <-> Normal 'MPL'
#   lmer_REML    lme4::lmer(formula, REML = TRUE)         <-> Normal 'REMPL'
# Grouping columns (integer codes) and factors are converted with factor() before timing.  Each fit
# is timed with system.time()["elapsed"] (gc first); the JSON holds every time, their median, and
# logLik, fixed effects, std/corr of the random effects and the residual std of the first fit.

suppressPackageStartupMessages({
  library(lme4)
  library(MASS)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
opt <- list(repeats = "3", factors = "", pql_fixed = "", pql_random = "", pql_opt = "")
for (a in args) {
  i <- regexpr("=", a, fixed = TRUE)
  if (i < 1) stop("arguments are key=value; got ", a)
  opt[[substr(a, 1, i - 1)]] <- substring(a, i + 1)
}
split <- function(s) if (is.null(s) || !nzchar(s)) character(0) else strsplit(s, ",", fixed = TRUE)[[1]]

df <- read.csv(opt$csv)
for (g in split(opt$groups)) df[[g]] <- factor(df[[g]])
for (f in split(opt$factors)) df[[f]] <- factor(df[[f]])
fml <- as.formula(opt$formula)
fam <- switch(opt$family, poisson = poisson(), binomial = binomial(), gaussian = gaussian(),
              gamma_log = Gamma(link = "log"),
              stop("unknown family ", opt$family))
repeats <- as.integer(opt$repeats)

fit_one <- function(m) {
  switch(m,
    glmer_nAGQ1 = glmer(fml, data = df, family = fam, nAGQ = 1),
    glmer_nAGQ0 = glmer(fml, data = df, family = fam, nAGQ = 0),
    glmmPQL = if (nzchar(opt$pql_opt))
      glmmPQL(fixed = as.formula(opt$pql_fixed), random = as.formula(opt$pql_random),
              family = fam, data = df, verbose = FALSE, control = nlme::lmeControl(opt = opt$pql_opt))
    else glmmPQL(fixed = as.formula(opt$pql_fixed), random = as.formula(opt$pql_random),
                 family = fam, data = df, verbose = FALSE),
    lmer_ML = lmer(fml, data = df, REML = FALSE),
    lmer_REML = lmer(fml, data = df, REML = TRUE),
    stop("unknown method ", m))
}

re_rows <- function(fit) {
  rows <- list()
  if (inherits(fit, "merMod")) {
    vc <- as.data.frame(VarCorr(fit))
    for (i in seq_len(nrow(vc))) {
      grp <- vc$grp[i]
      if (grp == "Residual") {
        rows[[length(rows) + 1]] <- list(grp = "Error", var1 = "", var2 = "", type = "std", value = vc$sdcor[i])
      } else if (is.na(vc$var2[i])) {
        rows[[length(rows) + 1]] <- list(grp = grp, var1 = vc$var1[i], var2 = "", type = "std", value = vc$sdcor[i])
      } else {
        rows[[length(rows) + 1]] <- list(grp = grp, var1 = vc$var1[i], var2 = vc$var2[i], type = "corr",
                                         value = vc$sdcor[i])
      }
    }
  } else {  # glmmPQL (nlme lme object), one grouping level
    grp <- names(fit$groups)[1]
    V <- as.matrix(nlme::getVarCov(fit))
    nm <- colnames(V)
    sds <- sqrt(diag(V))
    for (j in seq_along(nm)) rows[[length(rows) + 1]] <- list(grp = grp, var1 = nm[j], var2 = "", type = "std", value = sds[j])
    if (length(nm) > 1) {
      C <- cov2cor(V)
      for (j in 1:(length(nm) - 1)) for (k in (j + 1):length(nm))
        rows[[length(rows) + 1]] <- list(grp = grp, var1 = nm[j], var2 = nm[k], type = "corr", value = C[j, k])
    }
    rows[[length(rows) + 1]] <- list(grp = "Error", var1 = "", var2 = "", type = "std", value = fit$sigma)
  }
  rows
}

meta <- list(
  r_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  mass_version = as.character(packageVersion("MASS")),
  blas = tryCatch(La_library(), error = function(e) ""),
  repeats = repeats
)
write_out <- function(results) {
  out <- c(meta, list(results = results))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", null = "null"), opt$out)
}

results <- list()
for (m in split(opt$methods)) {
  times <- numeric(0)
  warns <- character(0)
  fit <- NULL
  err <- NULL
  for (r in seq_len(repeats)) {
    w <- character(0)
    t0 <- proc.time()[["elapsed"]]
    tm <- tryCatch(
      system.time(f <- withCallingHandlers(fit_one(m), warning = function(cond) {
        w <<- c(w, conditionMessage(cond))
        invokeRestart("muffleWarning")
      }), gcFirst = TRUE)[["elapsed"]],
      error = function(e) {
        err <<- sprintf("%s (after %.1f s)", conditionMessage(e), proc.time()[["elapsed"]] - t0)
        NA_real_
      })
    if (!is.null(err)) {
      cat(sprintf("%s %s repeat %d: ERROR %s\n", basename(opt$csv), m, r, err), file = stderr())
      break
    }
    times <- c(times, tm)
    if (r == 1) {
      fit <- f
      warns <- w
      # lme4 reports convergence problems as messages in the optimizer info, too
      if (inherits(f, "merMod")) warns <- c(warns, unlist(f@optinfo$conv$lme4$messages))
    }
    rm(f)
    cat(sprintf("%s %s repeat %d: %.2f s\n", basename(opt$csv), m, r, tm), file = stderr())
  }
  if (is.null(fit)) {
    results[[m]] <- list(method = m, times = I(times), median = NA_real_, error = err, nobs = nrow(df))
  } else {
    fe <- if (inherits(fit, "merMod")) fixef(fit) else nlme::fixef(fit)
    ll <- if (inherits(fit, "merMod")) as.numeric(logLik(fit)) else NA_real_
    se <- if (inherits(fit, "merMod")) sqrt(diag(as.matrix(vcov(fit)))) else sqrt(diag(fit$varFix))
    results[[m]] <- list(
      method = m, times = I(times), median = median(times), loglik = ll,
      beta = as.list(fe), se = as.list(setNames(as.numeric(se), names(fe))),
      re = re_rows(fit), warnings = as.list(unique(warns)), error = err, nobs = nrow(df)
    )
  }
  rm(fit)
  gc()
  write_out(results)  # after every method, so a later failure keeps what was measured
}
