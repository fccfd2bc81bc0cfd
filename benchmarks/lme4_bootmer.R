# lme4's refit and bootMer on the bundled mfr-shaped model (run by benchmarks/manyfits_bench.py and
# by reference_outputs/lme4/bootmer/generate.R for the stored reference).
#
# Usage: Rscript benchmarks/lme4_bootmer.R csv=PATH nsim=100 seed=1 out=PATH.json [quantiles=1]
#
# Model (MATLAB: 'Distribution','Poisson','Link','log','FitMethod','Laplace','DummyVarCoding','effects'):
#   glmer(defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory), poisson, nAGQ = 1,
#         contrasts = list(supplier = "contr.sum"))
# bootMer(fit, FUN, nsim, type = "parametric", use.u = FALSE, seed): new random effects per replicate,
# as fitglme's parametricBootstrap.  FUN returns the fixed effects and the std of the factory intercepts.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
opt <- list(nsim = "100", seed = "1", quantiles = "0")
for (a in args) {
  i <- regexpr("=", a, fixed = TRUE)
  opt[[substr(a, 1, i - 1)]] <- substring(a, i + 1)
}
df <- read.csv(opt$csv)
df$factory <- factor(df$factory)
df$supplier <- factor(df$supplier, levels = c("A", "B", "C"))
fml <- defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1 | factory)
fit <- glmer(fml, data = df, family = poisson(), nAGQ = 1, contrasts = list(supplier = "contr.sum"))
stat <- function(m) c(fixef(m), sd_factory = as.data.frame(VarCorr(m))$sdcor[1])
# one refit to a simulated response (timed; lme4's refit reuses the model frame)
ysim <- simulate(fit, nsim = 5, seed = 2)
gc()
t_refit <- system.time(for (j in 1:5) refit(fit, ysim[[j]]))["elapsed"] / 5
nsim <- as.integer(opt$nsim)
gc()
t_boot <- system.time(b <- bootMer(fit, stat, nsim = nsim, type = "parametric", use.u = FALSE,
                                   seed = as.integer(opt$seed)))["elapsed"]
out <- list(lme4 = as.character(packageVersion("lme4")), R = R.version.string, nsim = nsim,
            seed = as.integer(opt$seed), refit_seconds = unname(t_refit), bootmer_seconds = unname(t_boot),
            estimates = as.list(stat(fit)), loglik = as.numeric(logLik(fit)))
if (opt$quantiles == "1") {
  sdf <- b$t[, "sd_factory"]
  out$sd_factory_quantiles <- list(p = c(0.1, 0.25, 0.5, 0.75, 0.9),
                                   q = unname(quantile(sdf, c(0.1, 0.25, 0.5, 0.75, 0.9), type = 5)))
  out$sd_factory_mean <- mean(sdf)
  out$sd_factory_sd <- sd(sdf)
  out$sd_factory_zero <- mean(sdf < 1e-4)
  out$newprocess_sd <- sd(b$t[, "newprocess"])
}
write_json(out, opt$out, auto_unbox = TRUE, digits = NA, pretty = TRUE)
