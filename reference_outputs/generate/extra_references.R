#!/usr/bin/env Rscript
## Independent R references for what reference_outputs/lme4 does not cover: the inverse Gaussian
## distribution, the power link, a custom link, DummyVarCoding 'full', Offset, Exclude,
## CovariancePattern (Diagonal / Isotropic / CompSymm), coefTest and predict intervals.
##
## Usage (from the repository root):  Rscript reference_outputs/generate/extra_references.R [case ...]
## Writes reference_outputs/extra/<case>.json and the data CSVs (fixed-seed simulations, made here).
## The JSON schema is that of reference_outputs/lme4 (see lme4_reference_lib.R and PROVENANCE.md),
## plus the keys listed in reference_outputs/PROVENANCE.md ("extra" section).
##
## Engines, each tightened beyond package defaults and polished by Newton steps:
##  * lme4::glmer / lmer (canonical links): as lme4_reference_lib.R (tight nloptwrap + Newton polish).
##  * PQL (MPL): MASS::glmmPQL's iteration with tolerance 1e-16 (pql_fit of lme4_reference_lib.R);
##    accepts any glm family object, so stats::power() and make.link("cauchit") links too.
##  * nlme::lme (Normal, CovariancePattern Isotropic / CompSymm): pdIdent / pdCompSymm, tight control.
##  * glmmTMB (Poisson, Isotropic / CompSymm): diag() / cs() with the standard deviations tied by `map`,
##    Newton-polished on the TMB objective.
##  * laplace_ri (below): a direct Laplace fit written here for one scalar random intercept, with the
##    exact (observed) Hessian of log p(y | b) in the log-determinant and the dispersion at its
##    maximum.  This is MATLAB's Laplace objective for non-canonical links (as glmmTMB's) and for
##    Gamma / inverse Gaussian (ML dispersion).  It is checked against two glmmTMB references of
##    reference_outputs/lme4 on every run (diagnostics printed and stored in laplace_ri_selfcheck.json).
suppressPackageStartupMessages(library(numDeriv))
here <- {
  fa <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(fa)) dirname(normalizePath(sub("^--file=", "", fa[1]))) else getwd()
}
source(file.path(here, "lme4_reference_lib.R"))
out_dir <- normalizePath(file.path(here, "..", "extra"), mustWork = FALSE)
lme4_dir <- normalizePath(file.path(here, "..", "lme4"))
dir.create(out_dir, showWarnings = FALSE)

## ---------------------------------------------------------------- families with d2mu/deta2
## mu.eta2 = d(mu.eta)/d eta; dvar = dV/dmu; loglik(y, mu, phi, w) = log density per row.
link_d2 <- function(link) {
  if (is.numeric(link)) {                          # power link mu^p, p != 0
    p <- link; lk <- stats::power(p)
    lk$mu.eta2 <- function(eta) (1 / p) * (1 / p - 1) * eta^(1 / p - 2)
    lk$matlab <- p
    return(lk)
  }
  lk <- make.link(link)
  lk$mu.eta2 <- switch(link,
    log = function(eta) exp(eta),
    logit = function(eta) { m <- plogis(eta); m * (1 - m) * (1 - 2 * m) },
    cloglog = function(eta) { e <- exp(eta); exp(eta - e) * (1 - e) },
    cauchit = function(eta) -2 * eta / (pi * (1 + eta^2)^2),
    inverse = function(eta) 2 / eta^3,
    "1/mu^2" = function(eta) 0.75 * eta^(-2.5),
    stop("no mu.eta2 for link ", link))
  lk
}
dist_spec <- function(name) switch(name,
  poisson = list(V = function(mu) mu, dV = function(mu) 1 + 0 * mu, phi_free = FALSE,
                 ll = function(y, mu, phi, w) dpois(y, mu, log = TRUE)),
  binomial = list(V = function(mu) mu * (1 - mu), dV = function(mu) 1 - 2 * mu, phi_free = FALSE,
                  ## y = proportion, w = BinomialSize; Var(y) = mu(1-mu)/w
                  ll = function(y, mu, phi, w) dbinom(round(w * y), w, mu, log = TRUE)),
  Gamma = list(V = function(mu) mu^2, dV = function(mu) 2 * mu, phi_free = TRUE,
               ll = function(y, mu, phi, w) dgamma(y, shape = w / phi, scale = mu * phi / w, log = TRUE)),
  inverse.gaussian = list(V = function(mu) mu^3, dV = function(mu) 3 * mu^2, phi_free = TRUE,
               ll = function(y, mu, phi, w) { lam <- w / phi; 0.5 * log(lam / (2 * pi * y^3)) - lam * (y - mu)^2 / (2 * mu^2 * y) }),
  stop("no distribution ", name))

## pql_fit with a choice of ML (MPL, as the library's) or REML (REMPL) for the pseudo-data LME
pql_fit_method <- function(..., lme_method = "ML") {
  f <- pql_fit
  body(f) <- parse(text = gsub('method = "ML"', 'method = lme_method', paste(deparse(body(pql_fit)), collapse = "\n"), fixed = TRUE))[[1]]
  formals(f)$lme_method <- lme_method
  f(...)
}

## ---------------------------------------------------------------- laplace_ri
## Model: eta = X beta + b[g] + offset, b ~ N(0, s^2), y | b ~ dist(mu = g^-1(eta), phi).
## Laplace log-likelihood: sum_k [ sum_i l_i(b_k) - b_k^2/(2 s^2) - log s - log(H_k)/2 ],
## H_k = sum_{i in k} wobs_i + 1/s^2, wobs = -d2 l / d eta2 (observed), b_k the conditional mode.
laplace_ri <- function(y, X, g, dist, link, w = rep(1, length(y)), offset = rep(0, length(y))) {
  D <- dist_spec(dist); L <- link_d2(link)
  gi <- as.integer(g); m <- nlevels(g); p <- ncol(X)
  score_w <- function(eta, phi) {
    mu <- L$linkinv(eta); me <- L$mu.eta(eta); me2 <- L$mu.eta2(eta); V <- D$V(mu)
    s1 <- w / phi * (y - mu) * me / V
    wobs <- w / phi * (me^2 / V - (y - mu) * (me2 / V - me^2 * D$dV(mu) / V^2))
    list(s1 = s1, wobs = wobs, mu = mu)
  }
  modes <- function(e0, s, phi, b = rep(0, m)) {
    f_k <- function(b) rowsum(D$ll(y, L$linkinv(e0 + b[gi]), phi, w), gi, reorder = TRUE)[, 1] - b^2 / (2 * s^2)
    for (it in 1:200) {
      sw <- score_w(e0 + b[gi], phi)
      gk <- rowsum(sw$s1, gi, reorder = TRUE)[, 1] - b / s^2
      Hk <- rowsum(sw$wobs, gi, reorder = TRUE)[, 1] + 1 / s^2
      step <- gk / Hk
      if (any(!is.finite(step))) return(list(b = rep(NA_real_, m), H = rep(NA_real_, m), iterations = it))
      fo <- f_k(b); bn <- b + step; fn <- f_k(bn)
      k <- 0
      while (any(!is.finite(fn) | fn < fo - 1e-12 * abs(fo)) && k < 30) {   # halve the bad groups' steps
        bad <- !is.finite(fn) | fn < fo - 1e-12 * abs(fo)
        step[bad] <- step[bad] / 2; bn <- b + step; fn <- f_k(bn); k <- k + 1
      }
      b <- bn
      if (max(abs(step)) < 1e-13 * max(1, max(abs(b)))) break
    }
    sw <- score_w(e0 + b[gi], phi)
    list(b = b, H = rowsum(sw$wobs, gi, reorder = TRUE)[, 1] + 1 / s^2, iterations = it)
  }
  unpack <- function(par) list(beta = par[1:p], s = exp(par[p + 1]), phi = if (D$phi_free) exp(par[p + 2]) else 1)
  bcache <- rep(0, m)
  nll <- function(par) {
    u <- unpack(par); e0 <- as.vector(X %*% u$beta) + offset
    md <- modes(e0, u$s, u$phi, bcache)
    if (any(!is.finite(md$b)) || any(!is.finite(md$H)) || any(md$H <= 0)) return(Inf)
    bcache <<- md$b
    ll <- sum(D$ll(y, L$linkinv(e0 + md$b[gi]), u$phi, w)) - sum(md$b^2) / (2 * u$s^2) - m * log(u$s) - 0.5 * sum(log(md$H))
    -ll
  }
  ## start: glm
  fam <- if (dist == "binomial") binomial(link = L) else if (dist == "poisson") poisson(link = L) else
         if (dist == "Gamma") Gamma(link = L) else inverse.gaussian(link = L)
  g0 <- suppressWarnings(glm.fit(X, y, weights = w, offset = offset, family = fam))
  ## start: the glm, and a random-effect SD of half the spread of its linear predictor
  par <- c(g0$coefficients, log(0.5 * sd(g0$linear.predictors - offset)), if (D$phi_free) log(sum(g0$weights * g0$residuals^2) / (length(y) - p)))
  o <- nlminb(par, nll, control = list(rel.tol = 1e-14, x.tol = 1e-12, eval.max = 5000, iter.max = 2000))
  par <- o$par
  gr0 <- max(abs(numDeriv::grad(nll, par))); g_before <- gr0; steps <- 0L
  for (i in 1:10) {
    Hh <- numDeriv::hessian(nll, par); gg <- numDeriv::grad(nll, par)
    cand <- par - solve(Hh, gg); gc <- max(abs(numDeriv::grad(nll, cand)))
    if (!is.finite(gc) || gc >= gr0 || nll(cand) > nll(par) + 1e-10) break
    par <- cand; gr0 <- gc; steps <- steps + 1L
    if (gr0 < 1e-9) break
  }
  u <- unpack(par); e0 <- as.vector(X %*% u$beta) + offset
  md <- modes(e0, u$s, u$phi, bcache)
  sw <- score_w(e0 + md$b[gi], u$phi)
  Z <- Matrix::t(Matrix::fac2sparse(g, drop.unused.levels = FALSE))
  Z <- as.matrix(Z)
  list(beta = u$beta, s = u$s, phi = u$phi, b = md$b, loglik = -nll(par), X = X, Z = Z, wobs = sw$wobs,
       Psi = diag(u$s^2, m), mu_c = sw$mu, mu_m = L$linkinv(e0), linkinv = L$linkinv, offset = offset,
       npar = p + 1 + D$phi_free,
       polish = list(method = "nlminb (rel.tol 1e-14) then Newton on the Laplace objective (numDeriv)", steps = steps,
                     max_abs_grad_before = g_before, max_abs_grad_after = gr0, inner_newton_iterations = md$iterations))
}

## ---------------------------------------------------------------- dense joint quantities
## H = [X Z]' diag(wobs) [X Z] + blockdiag(0, Psi^-1) (b on the absolute scale, weights including 1/phi):
## Sigma = H^-1 is the covariance of (beta-hat - beta, b-hat - b) behind MATLAB's covBetaHatBHat.
joint_sigma <- function(X, Z, wobs, Psi) {
  p <- ncol(X); q <- ncol(Z); J <- cbind(X, Z)
  H <- crossprod(J, wobs * J); H[p + seq_len(q), p + seq_len(q)] <- H[p + seq_len(q), p + seq_len(q)] + solve(Psi)
  S <- solve(H)
  Hbb <- H[p + seq_len(q), p + seq_len(q), drop = FALSE]
  list(Sigma = S, vcov_beta = S[seq_len(p), seq_len(p), drop = FALSE], sepred = sqrt(diag(S)[p + seq_len(q)]),
       condsd = sqrt(diag(solve(Hbb))))
}
## Z (n x Q) for one term: per level, the columns of the term (level-major, as MATLAB's B)
term_z <- function(Zraw, f) {
  m <- nlevels(f); q <- ncol(Zraw); n <- nrow(Zraw)
  Z <- matrix(0, n, m * q); gi <- as.integer(f)
  for (a in seq_len(q)) Z[cbind(seq_len(n), (gi - 1) * q + a)] <- Zraw[, a]
  Z
}

## ---------------------------------------------------------------- coefTest and predict (independent of the fit)
## MATLAB coefTest: F = (H b - c)' (H V H')^-1 (H b - c) / r, r = rank(H), DF2 = n - p ('residual') or Inf ('none').
coef_tests <- function(res, tests) {
  b <- res$coefficients$Estimate; V <- res$CoefficientCovariance; dfe <- res$DFE
  lapply(tests, function(t) {
    H <- matrix(unlist(t$H), nrow = length(t$H), byrow = TRUE); c0 <- unlist(t$C)
    stopifnot(ncol(H) == length(b))
    r <- qr(H)$rank; d <- H %*% b - c0
    F <- as.numeric(t(d) %*% solve(H %*% V %*% t(H), d)) / r
    list(description = t$description, H = H, C = I(c0), F = F, DF1 = r,
         DF2_residual = dfe, pValue_residual = pf(F, r, dfe, lower.tail = FALSE),
         pValue_none = pchisq(F * r, r, lower.tail = FALSE))
  })
}
## Predictions on new rows: eta = x' beta + z' b + offset (z = 0 for an unseen level); conditional variance
## c' Sigma c with c = [x; z]; marginal x' V x; limits g^-1(eta -/+ t_{1-a/2, n-p} sd), sorted.
predict_block <- function(newfile, xnew, znew, offnew, beta, b, Sigma, V, dfe, linkinv, alpha = 0.05) {
  cq <- qt(1 - alpha / 2, dfe)
  one <- function(cond) {
    eta <- as.vector(xnew %*% beta) + offnew + if (cond) as.vector(znew %*% b) else 0
    C <- if (cond) cbind(xnew, znew) else xnew
    S <- if (cond) Sigma else V
    v <- rowSums((C %*% S) * C)
    lo <- linkinv(eta - cq * sqrt(v)); hi <- linkinv(eta + cq * sqrt(v))
    list(ypred = I(linkinv(eta)), lower = I(pmin(lo, hi)), upper = I(pmax(lo, hi)), var_eta = I(v))
  }
  list(data_file = newfile, Alpha = alpha, DF = dfe, Conditional = one(TRUE), Marginal = one(FALSE))
}

## ---------------------------------------------------------------- JSON assembly
cov_entry <- function(grp, m, nms, S, pattern) {
  rows <- cov_rows(S, nms)
  keep <- switch(pattern,
    FullCholesky = rep(TRUE, length(rows$Type)),
    Diagonal = rows$Type == "std",
    Isotropic = seq_along(rows$Type) == 1,
    CompSymm = seq_along(rows$Type) <= 2)
  for (k in c("Name1", "Name2", "Type", "Estimate")) rows[[k]] <- I(unclass(rows[[k]])[keep])
  c(list(Group = grp, NumLevels = m, Names = I(nms), Pattern = pattern), rows, list(CovarianceMatrix = unname(S)))
}
assemble <- function(spec, d, fitinfo) {
  n <- nrow(d); p <- length(fitinfo$beta)
  stopifnot(length(spec$coef_names) == p)
  res <- list(
    coefficients = coef_table(spec$coef_names, fitinfo$beta, fitinfo$vcov, n),
    CoefficientCovariance = unname(fitinfo$vcov),
    LogLikelihood = fitinfo$loglik, AIC = -2 * fitinfo$loglik + 2 * fitinfo$npar,
    BIC = -2 * fitinfo$loglik + log(n) * fitinfo$npar, Deviance = -2 * fitinfo$loglik,
    NumParameters_for_AIC = fitinfo$npar,
    Dispersion = fitinfo$phi, DispersionEstimated = fitinfo$phi_est,
    CovarianceParameters = c(list(cov_entry(spec$group, nlevels(d[[spec$group]]), spec$re_names, fitinfo$Psi_term, spec$pattern)),
                             list(list(Group = "Error", Name = if (spec$dist == "normal") "Res Std" else "sqrt(Dispersion)", Estimate = sqrt(fitinfo$phi)))),
    RandomEffects = re_table(list(list(group = spec$group, names = spec$re_names)), list(levels(d[[spec$group]])),
                             list(fitinfo$b), list(fitinfo$condsd), list(fitinfo$sepred)),
    FittedConditional = I(fitinfo$mu_c), FittedMarginal = I(fitinfo$mu_m),
    NumObservations = n, NumFixedEffects = p, DFE = n - p)
  if (!is.null(fitinfo$loglik_type)) res$LogLikelihood_type <- fitinfo$loglik_type
  if (!is.null(fitinfo$LogLikelihood_laplace_at_estimates)) res$LogLikelihood_laplace_at_estimates <- fitinfo$LogLikelihood_laplace_at_estimates
  if (spec$dist == "poisson" && !spec$method %in% c("MPL", "REMPL")) res$LogLikelihood_constant <- -sum(lgamma(d[[spec$response]] + 1))
  if (spec$dist == "binomial" && !spec$method %in% c("MPL", "REMPL")) {
    m <- d[[spec$size]]; res$LogLikelihood_constant <- sum(lchoose(m, round(m * d[[spec$response]])))
  }
  res
}

## ---------------------------------------------------------------- engines
fit_engine <- function(spec, d) {
  y <- d[[spec$response]]; off <- if (is.null(spec$offset)) rep(0, nrow(d)) else d[[spec$offset]]
  X <- model.matrix(spec$x_formula, d)
  Zraw <- model.matrix(spec$z_formula, d); Z <- term_z(Zraw, d[[spec$group]])
  if (spec$engine == "laplace_ri") {
    w <- if (is.null(spec$size)) rep(1, nrow(d)) else d[[spec$size]]
    f <- laplace_ri(y, X, d[[spec$group]], spec$r_dist, spec$r_link, w = w, offset = off)
    jq <- joint_sigma(X, f$Z, f$wobs, f$Psi)
    tmb <- NULL
    if (!is.null(spec$tmb_check)) {              # an independent engine on the same model, for the record
      tf <- eval(spec$tmb_check)
      tmb <- list(engine = "glmmTMB_mapped (Laplace, ML dispersion, Newton-polished)", dloglik_ours_minus_glmmTMB = f$loglik - as.numeric(logLik(tf)),
                  max_rel_diff_beta = max(abs(f$beta - fixef(tf)$cond) / abs(fixef(tf)$cond)),
                  rel_diff_sd = abs(f$s / sqrt(VarCorr(tf)$cond[[1]][1, 1]) - 1),
                  rel_diff_dispersion = abs(f$phi / sigma(tf)^2 - 1))
    }
    return(list(beta = f$beta, vcov = jq$vcov_beta, loglik = f$loglik, npar = f$npar, phi = f$phi,
                phi_est = dist_spec(spec$r_dist)$phi_free, Psi_term = matrix(f$s^2), b = f$b, condsd = jq$condsd,
                sepred = jq$sepred, mu_c = f$mu_c, mu_m = f$mu_m, Sigma = jq$Sigma, Z = f$Z, linkinv = f$linkinv,
                diagnostics = list(polish = f$polish, glmmTMB_check = tmb)))
  }
  if (spec$engine == "pql") {
    fam <- spec$r_family
    pf <- pql_fit_method(spec$pql_fixed, random = spec$pql_random, family = fam, data = d, offset = if (is.null(spec$offset)) NULL else off,
                         weights = if (is.null(spec$size)) NULL else d[[spec$size]], lme_method = if (spec$method == "REMPL") "REML" else "ML")
    fit <- pf$fit; sig2 <- fit$sigma^2
    Psi <- as.matrix(pdMatrix(fit$modelStruct$reStruct)[[1]]) * sig2
    re <- as.matrix(ranef(fit)); re <- re[match(levels(d[[spec$group]]), rownames(re)), , drop = FALSE]
    b <- as.vector(t(re)); beta <- fixef(fit)
    Psi_full <- kronecker(diag(nlevels(d[[spec$group]])), Psi)
    jq <- joint_sigma(X, Z, 1 / (pf$data$.invwt * sig2), Psi_full)
    eta_c <- as.vector(X %*% beta + Z %*% b) + off
    return(list(beta = beta, vcov = unname(fit$varFix), loglik = as.numeric(logLik(fit)), npar = attr(logLik(fit), "df"),
                phi = sig2, phi_est = TRUE, Psi_term = Psi, b = b, condsd = jq$condsd, sepred = jq$sepred,
                mu_c = fam$linkinv(eta_c), mu_m = fam$linkinv(as.vector(X %*% beta) + off), Sigma = jq$Sigma, Z = Z,
                linkinv = fam$linkinv,
                loglik_type = sprintf("pseudo-likelihood: nlme %s log-likelihood of the final working-response LME (includes varFixed weight terms)", fit$method),
                diagnostics = list(pql_iterations = pf$iterations, pql_final_criterion = pf$criterion,
                                   max_abs_diff_vcov_dense_vs_lme = max(abs(jq$vcov_beta - fit$varFix)),
                                   max_abs_diff_eta_vs_lme = max(abs(eta_c - (as.vector(fitted(fit)) + off))))))
  }
  if (spec$engine == "lme") {
    ctrl <- lmeControl(maxIter = 1000, msMaxIter = 1000, niterEM = 100, msMaxEval = 5000, tolerance = 1e-12,
                       msTol = 1e-14, returnObject = TRUE)
    fit <- lme(spec$lme_fixed, random = spec$lme_random, data = d, method = spec$lme_method, control = ctrl)
    Psi0 <- as.matrix(pdMatrix(fit$modelStruct$reStruct)[[1]]) * fit$sigma^2
    f <- dense_lmm(y, X, Z, nlevels(d[[spec$group]]), spec$pattern, spec$lme_method == "REML", fit$sigma, Psi0)
    jq <- joint_sigma(X, Z, rep(1 / f$sigma2, nrow(d)), f$Psi_full)
    eta_c <- as.vector(X %*% f$beta + Z %*% f$b)
    return(list(beta = setNames(f$beta, colnames(X)), vcov = f$vcov, loglik = f$loglik, npar = attr(logLik(fit), "df"),
                phi = f$sigma2, phi_est = TRUE, Psi_term = f$Psi, b = f$b, condsd = jq$condsd, sepred = jq$sepred,
                mu_c = eta_c, mu_m = as.vector(X %*% f$beta), Sigma = jq$Sigma, Z = Z, linkinv = identity,
                diagnostics = list(polish = f$polish, nlme_start = list(
                    dloglik_dense_minus_nlme = f$loglik - as.numeric(logLik(fit)),
                    max_abs_diff_beta_vs_nlme = max(abs(f$beta - fixef(fit))),
                    rel_diff_sigma_vs_nlme = abs(sqrt(f$sigma2) / fit$sigma - 1),
                    max_abs_diff_Psi_vs_nlme = max(abs(f$Psi - Psi0))),
                  max_abs_diff_vcov_joint_vs_gls = max(abs(jq$vcov_beta - f$vcov)))))
  }
  if (spec$engine %in% c("glmer", "lmer")) {
    env <- environment()
    fit <- glmer_ref(spec$r_call, env)
    is_glmm <- isGLMM(fit)
    phi <- if (is_glmm) 1 else sigma(fit)^2
    beta <- fixef(fit)
    vcl <- VarCorr(fit)
    sds <- vapply(vcl, function(v) sqrt(v[1, 1]), 0)   # `||`: one term per column, in formula order
    Psi <- diag(unname(sds)^2, length(sds))
    stopifnot(length(sds) == length(spec$re_names))
    rr <- ranef(fit)[[spec$group]]
    rr <- rr[match(levels(d[[spec$group]]), rownames(rr)), , drop = FALSE]
    rr <- rr[, if (ncol(rr) == length(spec$re_names)) seq_len(ncol(rr)) else stop("ranef columns"), drop = FALSE]
    b <- as.vector(t(as.matrix(rr)))
    wobs <- if (is_glmm) fit@resp$sqrtWrkWt()^2 / phi else rep(1 / phi, nrow(d))
    Psi_full <- kronecker(diag(nlevels(d[[spec$group]])), Psi)
    jq <- joint_sigma(X, Z, wobs, Psi_full)
    vc <- as.matrix(vcov(fit, use.hessian = FALSE))
    ll <- logLik(fit)
    eta_c <- as.vector(X %*% beta + Z %*% b) + off
    linkinv <- if (is_glmm) family(fit)$linkinv else identity
    ll_lapl <- NULL
    if (is_glmm && fit@devcomp$dims[["nAGQ"]] == 0) {
      ## lme4's nAGQ = 0 logLik is its joint (u, beta) PIRLS deviance; the Laplace log-likelihood
      ## (nAGQ = 1 deviance function) at the same (theta, beta), for comparison
      c1 <- spec$r_call; c1$nAGQ <- 1L; c1$devFunOnly <- TRUE; c1$control <- quote(glmerControl(tolPwrss = 1e-12))
      f1 <- eval(c1)
      ll_lapl <- -0.5 * f1(c(getME(fit, "theta"), unname(beta)))
    }
    return(list(beta = beta, vcov = unname(vc), loglik = as.numeric(ll), npar = attr(ll, "df"), phi = phi, phi_est = !is_glmm,
                Psi_term = Psi, b = b, condsd = jq$condsd, sepred = jq$sepred, mu_c = linkinv(eta_c),
                mu_m = linkinv(as.vector(X %*% beta) + off), Sigma = jq$Sigma, Z = Z, linkinv = linkinv,
                LogLikelihood_laplace_at_estimates = ll_lapl,
                diagnostics = list(polish = attr(fit, "polish"), max_abs_diff_vcov_dense_vs_lme4 = max(abs(jq$vcov_beta - vc)),
                                   max_abs_diff_fitted_vs_lme4 = max(abs(linkinv(eta_c) - fitted(fit))),
                                   theta_lme4 = I(unname(getME(fit, "theta"))))))
  }
  if (spec$engine == "glmmTMB") {
    fit <- glmmTMB_mapped(spec$tmb_formula, d, spec$r_family, spec$tmb_map)
    beta <- fixef(fit)$cond
    S <- VarCorr(fit)$cond[[1]]; Psi <- S[, , drop = FALSE]; attributes(Psi) <- attributes(Psi)[c("dim", "dimnames")]
    rr <- ranef(fit)$cond[[spec$group]]; rr <- rr[match(levels(d[[spec$group]]), rownames(rr)), , drop = FALSE]
    b <- as.vector(t(as.matrix(rr)))
    eta_c <- as.vector(X %*% beta + Z %*% b) + off
    mu <- exp(eta_c)
    Psi_full <- kronecker(diag(nlevels(d[[spec$group]])), Psi)
    jq <- joint_sigma(X, Z, mu, Psi_full)            # Poisson log link: observed = expected weight mu
    ll <- logLik(fit)
    return(list(beta = beta, vcov = jq$vcov_beta, loglik = as.numeric(ll), npar = attr(ll, "df"), phi = 1, phi_est = FALSE,
                Psi_term = unname(Psi), b = b, condsd = jq$condsd, sepred = jq$sepred, mu_c = mu, mu_m = exp(as.vector(X %*% beta) + off),
                Sigma = jq$Sigma, Z = Z, linkinv = exp,
                diagnostics = list(convergence = fit$fit$convergence, max_abs_gradient = max(abs(fit$obj$gr(fit$fit$par))),
                                   pdHess = fit$sdr$pdHess, theta = I(unname(fit$fit$par[names(fit$fit$par) == "theta"])),
                                   max_abs_diff_fitted_vs_glmmTMB = max(abs(mu - predict(fit, type = "response"))))))
  }
  stop("unknown engine ", spec$engine)
}

## Normal LMM with an Isotropic or CompSymm covariance, fitted here densely (n is small): y ~ N(X beta,
## V = Z (I_m x Psi) Z' + sigma^2 I), beta profiled out by GLS; ML or REML (lme4's and nlme's REML
## log-likelihood: -(1/2)[(n-p) log 2 pi + log|V| + log|X'V^-1 X| + r'V^-1 r]).  Started at nlme's fit,
## then nlminb and Newton steps (numDeriv) in (log sigma, log s, rho transform).
dense_lmm <- function(y, X, Z, m, pattern, REML, sigma0, Psi0) {
  q <- ncol(Psi0); n <- length(y); p <- ncol(X)
  lo <- if (q > 1) -1 / (q - 1) else 0
  Psi_of <- function(t) {
    s2 <- exp(2 * t[2])
    if (pattern == "Isotropic") return(diag(s2, q))
    rho <- lo + (1 - lo) * plogis(t[3])
    s2 * ((1 - rho) * diag(q) + rho * matrix(1, q, q))
  }
  s00 <- sqrt(mean(diag(Psi0)))
  t0 <- c(log(sigma0), log(s00))
  if (pattern == "CompSymm") { r0 <- mean(Psi0[lower.tri(Psi0)]) / s00^2; t0 <- c(t0, qlogis((r0 - lo) / (1 - lo))) }
  parts <- function(t) {
    Pf <- kronecker(diag(m), Psi_of(t))
    V <- Z %*% Pf %*% t(Z) + diag(exp(2 * t[1]), n)
    R <- chol(V)
    Xs <- backsolve(R, X, transpose = TRUE); ys <- backsolve(R, y, transpose = TRUE)
    XtVX <- crossprod(Xs); beta <- solve(XtVX, crossprod(Xs, ys))
    rs <- ys - Xs %*% beta
    ll <- -0.5 * ((if (REML) n - p else n) * log(2 * pi) + 2 * sum(log(diag(R))) + sum(rs^2) +
                  (if (REML) as.numeric(determinant(XtVX)$modulus) else 0))
    list(ll = ll, beta = as.vector(beta), XtVX = XtVX, V = V, Pf = Pf)
  }
  nll <- function(t) -parts(t)$ll
  o <- nlminb(t0, nll, control = list(rel.tol = 1e-15, x.tol = 1e-13, eval.max = 5000, iter.max = 2000))
  t <- o$par; g0 <- max(abs(numDeriv::grad(nll, t))); g_before <- g0; steps <- 0L
  for (i in 1:10) {
    H <- numDeriv::hessian(nll, t); gg <- numDeriv::grad(nll, t)
    cand <- t - solve(H, gg); gc <- max(abs(numDeriv::grad(nll, cand)))
    if (!is.finite(gc) || gc >= g0 || nll(cand) > nll(t) + 1e-10) break
    t <- cand; g0 <- gc; steps <- steps + 1L
    if (g0 < 1e-10) break
  }
  P <- parts(t)
  r <- y - X %*% P$beta
  b <- as.vector(P$Pf %*% t(Z) %*% solve(P$V, r))
  list(beta = P$beta, vcov = solve(P$XtVX), loglik = P$ll, sigma2 = exp(2 * t[1]), Psi = Psi_of(t), Psi_full = P$Pf, b = b,
       polish = list(method = "dense (RE)ML in (log sigma, log s[, logit rho]) from nlme's fit: nlminb (rel.tol 1e-15) then Newton (numDeriv)",
                     steps = steps, max_abs_grad_before = g_before, max_abs_grad_after = g0))
}

## glmmTMB with tied parameters (map), Newton-polished, then refitted from the polished start
glmmTMB_mapped <- function(formula, data, family, map = NULL, newton_steps = 10, start = NULL) {
  fit0 <- glmmTMB(formula, data = data, family = family, map = map, start = start)
  o <- fit0$obj; p <- fit0$fit$par; g0 <- max(abs(o$gr(p)))
  for (i in seq_len(newton_steps)) {
    H <- optimHess(p, o$fn, o$gr); pn <- p - solve(H, as.vector(o$gr(p))); gn <- max(abs(o$gr(pn)))
    if (!is.finite(gn) || gn >= g0) break
    p <- pn; g0 <- gn
    if (g0 < 1e-10) break
  }
  pl <- o$env$parList(p)
  glmmTMB(formula, data = data, family = family, map = map, start = list(beta = pl$beta, theta = pl$theta))
}

## ---------------------------------------------------------------- data
rinvgauss1 <- function(n, mu, lambda) {       # Michael, Schucany & Haas (1976)
  nu <- rnorm(n)^2; x <- mu + mu^2 * nu / (2 * lambda) - mu / (2 * lambda) * sqrt(4 * mu * lambda * nu + mu^2 * nu^2)
  ifelse(runif(n) <= mu / (mu + x), x, mu^2 / x)
}
make_data <- function(dir) {
  ## inverse Gaussian, canonical link 1/mu^2: 25 groups x 8
  set.seed(20261201)
  ng <- 25; m <- 8; n <- ng * m; gi <- rep(seq_len(ng), each = m)
  x <- round(rnorm(n), 4); u <- rnorm(ng, 0, 0.03)
  eta <- 0.3 + 0.04 * x + u[gi]; mu <- 1 / sqrt(eta)
  y <- signif(rinvgauss1(n, mu, lambda = 4), 6)
  write_case_csv(data.frame(g = sprintf("V%02d", gi), x = x, y = y), file.path(dir, "invgauss_sim.csv"))
  ## Gamma, MATLAB's default link (power -1, R "inverse"): 25 groups x 8, shape 5
  set.seed(20261206)
  ng <- 25; m <- 8; n <- ng * m; gi <- rep(seq_len(ng), each = m)
  x <- round(rnorm(n), 4); u <- rnorm(ng, 0, 0.06)
  mu <- 1 / (0.6 + 0.08 * x + u[gi])
  y <- signif(rgamma(n, shape = 5, rate = 5 / mu), 6)
  write_case_csv(data.frame(g = sprintf("R%02d", gi), x = x, y = y), file.path(dir, "gamma_inverse_sim.csv"))
  ## Poisson, power link 0.5 (sqrt): 20 groups x 8
  set.seed(20261202)
  ng <- 20; m <- 8; n <- ng * m; gi <- rep(seq_len(ng), each = m)
  x <- round(rnorm(n), 4); u <- rnorm(ng, 0, 0.4)
  y <- rpois(n, (3 + 0.5 * x + u[gi])^2)
  write_case_csv(data.frame(g = sprintf("S%02d", gi), x = x, y = y), file.path(dir, "poisson_sqrt_sim.csv"))
  ## binomial counts, cauchit link (a custom link in MATLAB): 20 groups x 8, size 1..10
  set.seed(20261203)
  ng <- 20; m <- 8; n <- ng * m; gi <- rep(seq_len(ng), each = m)
  x <- round(rnorm(n), 4); u <- rnorm(ng, 0, 0.6); size <- sample(1:10, n, replace = TRUE)
  succ <- rbinom(n, size, 0.5 + atan(-0.3 + 0.8 * x + u[gi]) / pi)
  write_case_csv(data.frame(g = sprintf("K%02d", gi), x = x, successes = succ, size = size, prop = succ / size),
                 file.path(dir, "cauchit_sim.csv"))
  ## Poisson with exposure offset and a 3-level categorical: 24 groups x 6
  set.seed(20261204)
  ng <- 24; m <- 6; n <- ng * m; gi <- rep(seq_len(ng), each = m)
  cond <- sample(c("A", "B", "C"), n, replace = TRUE); x <- round(rnorm(n), 4)
  expo <- round(runif(n, 1, 5), 2); u <- rnorm(ng, 0, 0.5)
  eta <- 0.2 + c(A = 0, B = 0.3, C = -0.2)[cond] + 0.4 * x + u[gi]
  y <- rpois(n, expo * exp(eta))
  write_case_csv(data.frame(g = sprintf("E%02d", gi), cond = cond, x = x, expo = expo, logE = log(expo), y = y),
                 file.path(dir, "offset_sim.csv"))
  ## covariance patterns: 30 groups x 10, three correlated random effects (1, x1, x2)
  set.seed(20261205)
  ng <- 30; m <- 10; n <- ng * m; gi <- rep(seq_len(ng), each = m)
  x1 <- round(rnorm(n), 4); x2 <- round(rnorm(n), 4)
  R <- matrix(0.4, 3, 3); diag(R) <- 1
  bN <- MASS::mvrnorm(ng, rep(0, 3), 1.0^2 * R); bP <- MASS::mvrnorm(ng, rep(0, 3), 0.3^2 * R)
  zb <- function(B) B[gi, 1] + B[gi, 2] * x1 + B[gi, 3] * x2
  yN <- round(2 + 1 * x1 - 0.5 * x2 + zb(bN) + rnorm(n), 4)
  yP <- rpois(n, exp(0.5 + 0.3 * x1 - 0.2 * x2 + zb(bP)))
  write_case_csv(data.frame(g = sprintf("T%02d", gi), x1 = x1, x2 = x2, yN = yN, yP = yP), file.path(dir, "pattern_sim.csv"))
}
## new rows for predict: the first rows of the data, some of them with an unseen group level "NEW"
make_newdata <- function(d, group, file, nrow_new = 12) {
  nd <- d[seq_len(nrow_new), , drop = FALSE]
  nd[[group]] <- as.character(nd[[group]]); nd[[group]][c(3, 7)] <- "NEW"
  for (v in names(nd)) if (is.factor(nd[[v]])) nd[[v]] <- as.character(nd[[v]])
  nd
}

## ---------------------------------------------------------------- case specs
## Every spec: name, data, description, categorical (levels), response, dist (MATLAB), method, link (JSON value),
## formula (MATLAB), options (extra MATLAB options), engine + engine fields, group, re_names, pattern,
## x_formula / z_formula (R model matrices in MATLAB column order), coef_names (MATLAB names).
base <- function(...) {
  s <- list(...)
  s$pattern <- s$pattern %||% "FullCholesky"; s$options <- s$options %||% list(); s
}
X1 <- ~ x; Z1 <- ~ 1
cases <- list(
  base(name = "invgauss_sim_laplace", data = "invgauss_sim.csv", engine = "laplace_ri", r_dist = "inverse.gaussian", r_link = "1/mu^2",
       description = "simulated inverse Gaussian (lambda 4), canonical link 1/mu^2 (MATLAB's default, power -2), random intercept; Laplace with ML dispersion",
       categorical = list(g = NULL), response = "y", dist = "InverseGaussian", link = NULL, method = "Laplace",
       formula = "y ~ 1 + x + (1|g)", group = "g", re_names = "(Intercept)", x_formula = X1, z_formula = Z1,
       coef_names = c("(Intercept)", "x"),
       predict = TRUE,
       tests = list(list(description = "x = 0", H = list(c(0, 1)), C = list(0)),
                    list(description = "(Intercept) = 0.3 and x = 0.04 (the simulated values)", H = list(c(1, 0), c(0, 1)), C = list(0.3, 0.04)))),
  base(name = "invgauss_sim_mpl", data = "invgauss_sim.csv", engine = "pql", r_family = inverse.gaussian(),
       pql_fixed = y ~ x, pql_random = ~ 1 | g,
       description = "simulated inverse Gaussian, canonical link; PQL (MASS::glmmPQL algorithm, tol 1e-16)",
       categorical = list(g = NULL), response = "y", dist = "InverseGaussian", link = NULL, method = "MPL",
       formula = "y ~ 1 + x + (1|g)", group = "g", re_names = "(Intercept)", x_formula = X1, z_formula = Z1,
       coef_names = c("(Intercept)", "x"), predict = TRUE,
       tests = list(list(description = "x = 0", H = list(c(0, 1)), C = list(0)))),
  base(name = "invgauss_sim_rempl", data = "invgauss_sim.csv", engine = "pql", r_family = inverse.gaussian(),
       pql_fixed = y ~ x, pql_random = ~ 1 | g,
       description = "simulated inverse Gaussian, canonical link; PQL with REML pseudo-data fits (REMPL)",
       categorical = list(g = NULL), response = "y", dist = "InverseGaussian", link = NULL, method = "REMPL",
       formula = "y ~ 1 + x + (1|g)", group = "g", re_names = "(Intercept)", x_formula = X1, z_formula = Z1,
       coef_names = c("(Intercept)", "x")),
  base(name = "gamma_inverse_sim_laplace", data = "gamma_inverse_sim.csv", engine = "laplace_ri", r_dist = "Gamma", r_link = "inverse",
       tmb_check = quote(glmmTMB_mapped(y ~ x + (1 | g), data = d, family = Gamma(link = "inverse"),
                                         start = list(beta = unname(coef(glm(y ~ x, family = Gamma, data = d)))))),
       description = "simulated Gamma (shape 5), MATLAB's default link (power -1; R 'inverse'), random intercept; Laplace with ML dispersion",
       categorical = list(g = NULL), response = "y", dist = "Gamma", link = NULL, method = "Laplace",
       formula = "y ~ 1 + x + (1|g)", group = "g", re_names = "(Intercept)", x_formula = X1, z_formula = Z1,
       coef_names = c("(Intercept)", "x"), predict = TRUE,
       tests = list(list(description = "x = 0.08 (the simulated value)", H = list(c(0, 1)), C = list(0.08)))),
  base(name = "gamma_inverse_sim_mpl", data = "gamma_inverse_sim.csv", engine = "pql", r_family = Gamma(link = "inverse"),
       pql_fixed = y ~ x, pql_random = ~ 1 | g,
       description = "simulated Gamma, MATLAB's default link (power -1); PQL",
       categorical = list(g = NULL), response = "y", dist = "Gamma", link = NULL, method = "MPL",
       formula = "y ~ 1 + x + (1|g)", group = "g", re_names = "(Intercept)", x_formula = X1, z_formula = Z1,
       coef_names = c("(Intercept)", "x"), predict = TRUE,
       tests = list(list(description = "x = 0", H = list(c(0, 1)), C = list(0)))),
  base(name = "poisson_sqrt_sim_mpl", data = "poisson_sqrt_sim.csv", engine = "pql", r_family = poisson(link = stats::power(0.5)),
       pql_fixed = y ~ x, pql_random = ~ 1 | g,
       description = "simulated Poisson, power link 0.5 (MATLAB 'Link', 0.5); PQL with free dispersion",
       categorical = list(g = NULL), response = "y", dist = "Poisson", link = 0.5, method = "MPL", options = list(DispersionFlag = TRUE),
       formula = "y ~ 1 + x + (1|g)", group = "g", re_names = "(Intercept)", x_formula = X1, z_formula = Z1,
       coef_names = c("(Intercept)", "x"), predict = TRUE,
       tests = list(list(description = "x = 0.5", H = list(c(0, 1)), C = list(0.5)))),
  base(name = "poisson_sqrt_sim_laplace", data = "poisson_sqrt_sim.csv", engine = "laplace_ri", r_dist = "poisson", r_link = 0.5,
       description = "simulated Poisson, power link 0.5; Laplace with the observed Hessian (non-canonical link)",
       categorical = list(g = NULL), response = "y", dist = "Poisson", link = 0.5, method = "Laplace",
       formula = "y ~ 1 + x + (1|g)", group = "g", re_names = "(Intercept)", x_formula = X1, z_formula = Z1,
       coef_names = c("(Intercept)", "x"), predict = TRUE,
       tests = list(list(description = "x = 0.5", H = list(c(0, 1)), C = list(0.5)))),
  base(name = "cauchit_sim_laplace", data = "cauchit_sim.csv", engine = "laplace_ri", r_dist = "binomial", r_link = "cauchit", size = "size",
       description = "simulated binomial counts, cauchit link given to MATLAB as a custom link (Link/Derivative/SecondDerivative/Inverse); Laplace with the observed Hessian",
       categorical = list(g = NULL), response = "prop", dist = "Binomial", link = list(custom = "cauchit"), method = "Laplace",
       options = list(BinomialSize = "size"),
       formula = "prop ~ 1 + x + (1|g)", group = "g", re_names = "(Intercept)", x_formula = X1, z_formula = Z1,
       coef_names = c("(Intercept)", "x"), predict = TRUE,
       tests = list(list(description = "x = 0", H = list(c(0, 1)), C = list(0)))),
  base(name = "cauchit_sim_mpl", data = "cauchit_sim.csv", engine = "pql", r_family = binomial(link = "cauchit"), size = "size",
       pql_fixed = prop ~ x, pql_random = ~ 1 | g,
       description = "simulated binomial counts, custom (cauchit) link; PQL with free dispersion",
       categorical = list(g = NULL), response = "prop", dist = "Binomial", link = list(custom = "cauchit"), method = "MPL",
       options = list(BinomialSize = "size", DispersionFlag = TRUE),
       formula = "prop ~ 1 + x + (1|g)", group = "g", re_names = "(Intercept)", x_formula = X1, z_formula = Z1,
       coef_names = c("(Intercept)", "x")),
  base(name = "offset_sim_poisson_full_laplace", data = "offset_sim.csv", engine = "glmer",
       r_call = quote(glmer(y ~ 0 + cond + x + (1 | g), data = d, family = poisson, offset = logE, nAGQ = 1L, control = tight_glmer)),
       description = "simulated Poisson counts with exposure offset log(expo); no intercept and DummyVarCoding 'full' (one dummy per level of cond)",
       categorical = list(g = NULL, cond = c("A", "B", "C")), response = "y", dist = "Poisson", link = "log", method = "Laplace",
       options = list(DummyVarCoding = "full", Offset = "logE"), offset = "logE",
       formula = "y ~ -1 + cond + x + (1|g)", group = "g", re_names = "(Intercept)", x_formula = ~ 0 + cond + x, z_formula = Z1,
       coef_names = c("cond_A", "cond_B", "cond_C", "x"), predict = TRUE,
       tests = list(list(description = "cond_A = cond_B = cond_C", H = list(c(1, -1, 0, 0), c(0, 1, -1, 0)), C = list(0, 0)),
                    list(description = "cond_A = 0.2, x = 0.4", H = list(c(1, 0, 0, 0), c(0, 0, 0, 1)), C = list(0.2, 0.4)))),
  base(name = "offset_sim_poisson_exclude_laplace", data = "offset_sim.csv", engine = "glmer",
       r_call = quote(glmer(y ~ cond + x + (1 | g), data = d, family = poisson, offset = logE, nAGQ = 1L, control = tight_glmer)),
       description = "as offset_sim, reference coding, with rows excluded (MATLAB 'Exclude'); R fits the remaining rows",
       categorical = list(g = NULL, cond = c("A", "B", "C")), response = "y", dist = "Poisson", link = "log", method = "Laplace",
       options = list(Offset = "logE"), offset = "logE", exclude = seq(5L, 143L, by = 17L),
       formula = "y ~ 1 + cond + x + (1|g)", group = "g", re_names = "(Intercept)", x_formula = ~ cond + x, z_formula = Z1,
       coef_names = c("(Intercept)", "cond_B", "cond_C", "x"),
       tests = list(list(description = "cond_B = cond_C = 0", H = list(c(0, 1, 0, 0), c(0, 0, 1, 0)), C = list(0, 0)))),
  base(name = "offset_sim_poisson_mpl", data = "offset_sim.csv", engine = "pql", r_family = poisson(),
       pql_fixed = y ~ cond + x, pql_random = ~ 1 | g, offset = "logE",
       description = "offset_sim with the offset; PQL with free dispersion",
       categorical = list(g = NULL, cond = c("A", "B", "C")), response = "y", dist = "Poisson", link = "log", method = "MPL",
       options = list(Offset = "logE", DispersionFlag = TRUE),
       formula = "y ~ 1 + cond + x + (1|g)", group = "g", re_names = "(Intercept)", x_formula = ~ cond + x, z_formula = Z1,
       coef_names = c("(Intercept)", "cond_B", "cond_C", "x"), predict = TRUE,
       tests = list(list(description = "cond_B = cond_C", H = list(c(0, 1, -1, 0)), C = list(0)))),
  ## covariance patterns, Normal
  base(name = "pattern_sim_normal_diag_ml", data = "pattern_sim.csv", engine = "lmer",
       r_call = quote(lmer(yN ~ x1 + (1 + x1 || g), data = d, REML = FALSE, control = tight_lmer)),
       description = "simulated Normal, random intercept and slope with a Diagonal covariance (lme4 ||), ML",
       categorical = list(g = NULL), response = "yN", dist = "Normal", link = "identity", method = "MPL", pattern = "Diagonal",
       formula = "yN ~ 1 + x1 + (1 + x1|g)", group = "g", re_names = c("(Intercept)", "x1"), x_formula = ~ x1, z_formula = ~ x1,
       coef_names = c("(Intercept)", "x1"), predict = TRUE,
       tests = list(list(description = "x1 = 1", H = list(c(0, 1)), C = list(1)))),
  base(name = "pattern_sim_normal_iso_ml", data = "pattern_sim.csv", engine = "lme", lme_method = "ML",
       lme_fixed = yN ~ x1, lme_random = list(g = pdIdent(~ 1 + x1)),
       description = "simulated Normal, random intercept and slope with an Isotropic covariance (nlme pdIdent: s^2 I), ML",
       categorical = list(g = NULL), response = "yN", dist = "Normal", link = "identity", method = "MPL", pattern = "Isotropic",
       formula = "yN ~ 1 + x1 + (1 + x1|g)", group = "g", re_names = c("(Intercept)", "x1"), x_formula = ~ x1, z_formula = ~ x1,
       coef_names = c("(Intercept)", "x1")),
  base(name = "pattern_sim_normal_cs_ml", data = "pattern_sim.csv", engine = "lme", lme_method = "ML",
       lme_fixed = yN ~ x1 + x2, lme_random = list(g = pdCompSymm(~ 1 + x1 + x2)),
       description = "simulated Normal, three random effects with a CompSymm covariance (nlme pdCompSymm: common variance and correlation), ML",
       categorical = list(g = NULL), response = "yN", dist = "Normal", link = "identity", method = "MPL", pattern = "CompSymm",
       formula = "yN ~ 1 + x1 + x2 + (1 + x1 + x2|g)", group = "g", re_names = c("(Intercept)", "x1", "x2"), x_formula = ~ x1 + x2,
       z_formula = ~ x1 + x2, coef_names = c("(Intercept)", "x1", "x2"), predict = TRUE,
       tests = list(list(description = "x1 = 1, x2 = -0.5", H = list(c(0, 1, 0), c(0, 0, 1)), C = list(1, -0.5)),
                    list(description = "x1 + 2 x2 = 0", H = list(c(0, 1, 2)), C = list(0)))),
  base(name = "pattern_sim_normal_cs_reml", data = "pattern_sim.csv", engine = "lme", lme_method = "REML",
       lme_fixed = yN ~ x1 + x2, lme_random = list(g = pdCompSymm(~ 1 + x1 + x2)),
       description = "as pattern_sim_normal_cs_ml, REML",
       categorical = list(g = NULL), response = "yN", dist = "Normal", link = "identity", method = "REMPL", pattern = "CompSymm",
       formula = "yN ~ 1 + x1 + x2 + (1 + x1 + x2|g)", group = "g", re_names = c("(Intercept)", "x1", "x2"), x_formula = ~ x1 + x2,
       z_formula = ~ x1 + x2, coef_names = c("(Intercept)", "x1", "x2")),
  base(name = "offset_sim_poisson_full_approxlaplace", data = "offset_sim.csv", engine = "glmer",
       r_call = quote(glmer(y ~ 0 + cond + x + (1 | g), data = d, family = poisson, offset = logE, nAGQ = 0L, control = tight_glmer)),
       description = "as offset_sim_poisson_full_laplace, ApproximateLaplace (lme4 nAGQ = 0: beta from PIRLS, not in the outer optimisation)",
       categorical = list(g = NULL, cond = c("A", "B", "C")), response = "y", dist = "Poisson", link = "log", method = "ApproximateLaplace",
       options = list(DummyVarCoding = "full", Offset = "logE"), offset = "logE",
       formula = "y ~ -1 + cond + x + (1|g)", group = "g", re_names = "(Intercept)", x_formula = ~ 0 + cond + x, z_formula = Z1,
       coef_names = c("cond_A", "cond_B", "cond_C", "x"),
       tests = list(list(description = "cond_A = cond_B = cond_C", H = list(c(1, -1, 0, 0), c(0, 1, -1, 0)), C = list(0, 0)))),
  ## covariance patterns, Poisson Laplace
  base(name = "pattern_sim_poisson_diag_laplace", data = "pattern_sim.csv", engine = "glmer",
       r_call = quote(glmer(yP ~ x1 + (1 + x1 || g), data = d, family = poisson, nAGQ = 1L, control = tight_glmer)),
       description = "simulated Poisson, random intercept and slope with a Diagonal covariance (lme4 ||), Laplace",
       categorical = list(g = NULL), response = "yP", dist = "Poisson", link = "log", method = "Laplace", pattern = "Diagonal",
       formula = "yP ~ 1 + x1 + (1 + x1|g)", group = "g", re_names = c("(Intercept)", "x1"), x_formula = ~ x1, z_formula = ~ x1,
       coef_names = c("(Intercept)", "x1"), predict = TRUE,
       tests = list(list(description = "x1 = 0", H = list(c(0, 1)), C = list(0)))),
  base(name = "pattern_sim_poisson_diag_approxlaplace", data = "pattern_sim.csv", engine = "glmer",
       r_call = quote(glmer(yP ~ x1 + (1 + x1 || g), data = d, family = poisson, nAGQ = 0L, control = tight_glmer)),
       description = "as pattern_sim_poisson_diag_laplace, ApproximateLaplace (lme4 nAGQ = 0)",
       categorical = list(g = NULL), response = "yP", dist = "Poisson", link = "log", method = "ApproximateLaplace", pattern = "Diagonal",
       formula = "yP ~ 1 + x1 + (1 + x1|g)", group = "g", re_names = c("(Intercept)", "x1"), x_formula = ~ x1, z_formula = ~ x1,
       coef_names = c("(Intercept)", "x1"), predict = TRUE),
  base(name = "pattern_sim_poisson_iso_laplace", data = "pattern_sim.csv", engine = "glmmTMB",
       tmb_formula = yP ~ x1 + diag(1 + x1 | g), tmb_map = list(theta = factor(c(1, 1))), r_family = poisson(),
       description = "simulated Poisson, Isotropic covariance (glmmTMB diag() with the two standard deviations tied by map), Laplace",
       categorical = list(g = NULL), response = "yP", dist = "Poisson", link = "log", method = "Laplace", pattern = "Isotropic",
       formula = "yP ~ 1 + x1 + (1 + x1|g)", group = "g", re_names = c("(Intercept)", "x1"), x_formula = ~ x1, z_formula = ~ x1,
       coef_names = c("(Intercept)", "x1")),
  base(name = "pattern_sim_poisson_cs_laplace", data = "pattern_sim.csv", engine = "glmmTMB",
       tmb_formula = yP ~ x1 + x2 + cs(1 + x1 + x2 | g), tmb_map = list(theta = factor(c(1, 1, 1, 2))), r_family = poisson(),
       description = "simulated Poisson, CompSymm covariance (glmmTMB cs() with the three standard deviations tied by map), Laplace",
       categorical = list(g = NULL), response = "yP", dist = "Poisson", link = "log", method = "Laplace", pattern = "CompSymm",
       formula = "yP ~ 1 + x1 + x2 + (1 + x1 + x2|g)", group = "g", re_names = c("(Intercept)", "x1", "x2"), x_formula = ~ x1 + x2,
       z_formula = ~ x1 + x2, coef_names = c("(Intercept)", "x1", "x2"), predict = TRUE,
       tests = list(list(description = "x1 = x2 = 0", H = list(c(0, 1, 0), c(0, 0, 1)), C = list(0, 0))))
)

## ---------------------------------------------------------------- runner
run_extra <- function(spec) {
  rd <- read_case_csv(file.path(out_dir, spec$data), spec$categorical)
  dfull <- rd$data
  used <- rep(TRUE, nrow(dfull)); if (!is.null(spec$exclude)) used[spec$exclude + 1L] <- FALSE
  d <- dfull[used, , drop = FALSE]; rownames(d) <- NULL
  for (v in names(spec$categorical)) d[[v]] <- droplevels(d[[v]])
  stopifnot(all(vapply(names(spec$categorical), function(v) identical(levels(d[[v]]), levels(dfull[[v]])), TRUE)))
  cap <- capture_all(fit_engine(spec, d))
  fi <- cap$value
  res <- assemble(spec, d, fi)
  if (!is.null(spec$exclude)) res$used_rows <- I(which(used) - 1L)
  if (!is.null(spec$tests)) res$coefTest <- coef_tests(res, spec$tests)
  if (isTRUE(spec$predict)) {
    nfile <- sub("\\.csv$", paste0("_new_", spec$name, ".csv"), spec$data)
    nd <- make_newdata(d, spec$group, nfile)
    write_case_csv(nd, file.path(out_dir, nfile))
    nd2 <- nd; for (v in names(spec$categorical)) if (v != spec$group) nd2[[v]] <- factor(nd2[[v]], levels = levels(d[[v]]))
    xnew <- model.matrix(spec$x_formula, nd2)
    zraw <- model.matrix(spec$z_formula, nd2)
    known <- nd[[spec$group]] %in% levels(d[[spec$group]])
    fz <- factor(ifelse(known, nd[[spec$group]], levels(d[[spec$group]])[1]), levels = levels(d[[spec$group]]))
    znew <- term_z(zraw, fz) * known                     # unseen level: no random-effect contribution
    offnew <- if (is.null(spec$offset)) rep(0, nrow(nd)) else nd[[spec$offset]]
    res$predict <- c(predict_block(nfile, xnew, znew, offnew, fi$beta, fi$b, fi$Sigma, res$CoefficientCovariance,
                                   res$DFE, fi$linkinv),
                     list(Offset = if (is.null(spec$offset)) NULL else spec$offset))
  }
  opts <- c(list(Distribution = spec$dist, Link = spec$link, FitMethod = spec$method,
                 CovariancePattern = if (spec$pattern != "FullCholesky") spec$pattern else NULL,
                 Exclude = if (!is.null(spec$exclude)) I(spec$exclude) else NULL), spec$options)
  opts <- opts[!vapply(opts, is.null, TRUE)]
  list(schema_version = 1L, case = spec$name, description = spec$description, data_file = spec$data,
       response = spec$response, categorical_levels = rd$levels,
       matlab = list(formula = spec$formula, options = opts),
       r = list(engine = spec$engine, call = if (!is.null(spec$r_call)) paste(deparse(spec$r_call, width.cutoff = 500L), collapse = " ") else
                  paste(spec$engine, deparse(spec$pql_fixed %||% spec$lme_fixed %||% spec$tmb_formula %||% spec$x_formula)),
                warnings = I(cap$warnings), messages = I(cap$messages)),
       results = res, diagnostics = fi$diagnostics, versions = r_versions())
}

## laplace_ri against two glmmTMB references of reference_outputs/lme4 (Gamma log link with ML dispersion; cloglog)
selfcheck <- function() {
  chk <- function(case, csv, dist, link, resp, size = NULL) {
    J <- jsonlite::fromJSON(file.path(lme4_dir, paste0(case, ".json")))$results
    ref <- list(LogLikelihood = J$LogLikelihood, beta = J$coefficients$Estimate, se = J$coefficients$SE,
                sd = J$CovarianceParameters$Estimate[[1]][1], phi = J$Dispersion)
    d <- read.csv(file.path(lme4_dir, csv), colClasses = c(g = "character")); d$g <- factor(d$g, levels = sort(unique(d$g), method = "radix"))
    X <- model.matrix(~ x, d)
    f <- laplace_ri(d[[resp]], X, d$g, dist, link, w = if (is.null(size)) rep(1, nrow(d)) else d[[size]])
    jq <- joint_sigma(X, f$Z, f$wobs, f$Psi)
    list(case = case, dloglik = f$loglik - ref$LogLikelihood, max_rel_beta = max(abs(f$beta - ref$beta) / abs(ref$beta)),
         rel_sd = abs(f$s - ref$sd) / ref$sd, rel_phi = abs(f$phi - ref$phi) / ref$phi,
         max_rel_se = max(abs(sqrt(diag(jq$vcov_beta)) - ref$se) / ref$se))
  }
  out <- list(chk("gamma_sim_log_laplace_glmmTMB", "gamma_sim.csv", "Gamma", "log", "y"),
              chk("cloglog_binary_sim_laplace_glmmTMB", "cloglog_binary_sim.csv", "binomial", "cloglog", "y"))
  write_json_file(list(description = "laplace_ri (extra_references.R) refitting two glmmTMB references of reference_outputs/lme4; differences ours - glmmTMB",
                       checks = out, versions = r_versions()), file.path(out_dir, "laplace_ri_selfcheck.json"))
  for (o in out) message(sprintf("selfcheck %-38s dLL %.2e beta %.2e sd %.2e phi %.2e se %.2e", o$case, o$dloglik, o$max_rel_beta, o$rel_sd, o$rel_phi, o$max_rel_se))
}
args <- commandArgs(trailingOnly = TRUE)
make_data(out_dir)
selfcheck()
for (spec in cases) {
  if (length(args) && !(spec$name %in% args)) next
  t0 <- proc.time()[["elapsed"]]
  res <- tryCatch(run_extra(spec), error = function(e) { message("ERROR in ", spec$name, ": ", conditionMessage(e)); NULL })
  if (is.null(res)) next
  write_json_file(res, file.path(out_dir, paste0(spec$name, ".json")))
  message(sprintf("%-40s %5.1fs logLik=%.10g warnings=%d", spec$name, proc.time()[["elapsed"]] - t0, res$results$LogLikelihood, length(res$r$warnings)))
}
