## Library of reference_outputs/generate: a verbatim copy of the LIB section (BEGIN LIB .. END LIB) of
## the project's lme4 reference generator regenerate.R (the script that made reference_outputs/lme4/*.json),
## kept here so that extra_references.R can be run from the repository alone.
## ==== BEGIN LIB ====
suppressPackageStartupMessages({
  library(Matrix); library(lme4); library(MASS); library(nlme); library(glmmTMB)
})

## ---------- number formatting ----------
## JSON: always 17 significant digits (glibc printf is exact, so a correctly rounding parser such as Python's gets the
## identical double back; R's own parser is not always correctly rounded, so a shorter "R round-trip" string is not safe).
num_str <- function(x) {
  x <- as.numeric(x); s <- sprintf("%.17g", x); s[is.na(x) | !is.finite(x)] <- "null"; s
}
## CSV: shortest of 15/16/17 digits that R parses back to the same double (readable data files; a 1-ulp difference
## between R's and another parser's reading is possible in rare cases and immaterial).
csv_num <- function(x) {
  vapply(as.numeric(x), function(v) {
    if (is.na(v) || !is.finite(v)) return("")
    for (d in 15:17) { s <- sprintf(paste0("%.", d, "g"), v); if (as.numeric(s) == v) return(s) }
    sprintf("%.17g", v)
  }, "")
}

## ---------- minimal JSON writer (full precision numbers; NA/NaN/Inf -> null) ----------
## lists with names -> objects; unnamed lists -> arrays; atomic length-1 -> scalar unless wrapped in I();
## matrices -> array of rows.
json_str <- function(s) {
  s <- gsub("\\\\", "\\\\\\\\", s); s <- gsub("\"", "\\\\\"", s)
  s <- gsub("\n", "\\\\n", s); s <- gsub("\t", "\\\\t", s); s <- gsub("\r", "\\\\r", s)
  s <- gsub("[\001-\037]", " ", s)
  paste0("\"", s, "\"")
}
to_json <- function(x, indent = 0) {
  pad <- strrep(" ", indent); pad2 <- strrep(" ", indent + 1)
  if (is.null(x)) return("null")
  if (is.matrix(x)) {
    rows <- lapply(seq_len(nrow(x)), function(i) I(unname(x[i, ])))
    return(to_json(rows, indent))
  }
  if (is.list(x)) {
    if (length(x) == 0) return(if (!is.null(names(x))) "{}" else "[]")
    inner <- vapply(x, to_json, "", indent = indent + 1)
    if (!is.null(names(x))) {
      body <- paste0(pad2, json_str(names(x)), ": ", inner)
      return(paste0("{\n", paste(body, collapse = ",\n"), "\n", pad, "}"))
    } else {
      return(paste0("[\n", paste0(pad2, inner, collapse = ",\n"), "\n", pad, "]"))
    }
  }
  asis <- inherits(x, "AsIs")
  if (is.factor(x)) x <- as.character(x)
  if (is.logical(x)) v <- ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  else if (is.numeric(x)) v <- num_str(x)
  else v <- ifelse(is.na(x), "null", json_str(as.character(x)))
  if (length(x) == 1 && !asis) return(v)
  paste0("[", paste(v, collapse = ", "), "]")
}
write_json_file <- function(x, file) writeLines(to_json(x), file, useBytes = TRUE)

## ---------- CSV writing/reading ----------
write_case_csv <- function(d, file) {
  out <- d
  strcols <- which(!vapply(d, is.numeric, TRUE))
  for (v in names(out)) out[[v]] <- if (is.numeric(d[[v]])) csv_num(d[[v]]) else as.character(d[[v]])
  write.table(out, file, sep = ",", row.names = FALSE, col.names = TRUE, quote = if (length(strcols)) strcols else FALSE,
              na = "", qmethod = "double", fileEncoding = "UTF-8")
}
## categorical: named list var -> character vector of levels (NULL => sorted unique, C-locale)
read_case_csv <- function(file, categorical) {
  cc <- setNames(rep("character", length(categorical)), names(categorical))
  d <- read.csv(file, colClasses = cc, stringsAsFactors = FALSE, check.names = FALSE, encoding = "UTF-8")
  levs <- list()
  for (v in names(categorical)) {
    lv <- categorical[[v]]
    if (is.null(lv)) lv <- sort(unique(d[[v]]), method = "radix")
    stopifnot(all(d[[v]] %in% lv))
    d[[v]] <- factor(d[[v]], levels = lv)
    levs[[v]] <- I(lv)
  }
  list(data = d, levels = levs)
}

## ---------- capture warnings/messages ----------
capture_all <- function(expr) {
  warns <- character(0); msgs <- character(0)
  val <- withCallingHandlers(expr,
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { msgs <<- c(msgs, trimws(conditionMessage(m))); invokeRestart("muffleMessage") })
  list(value = val, warnings = unique(warns), messages = unique(msgs))
}

## ---------- MATLAB-style coefficient names ----------
## contrasts_type: "treatment" (MATLAB 'reference') or "sum" (MATLAB 'effects').
matlab_coef_names <- function(fixed_rhs, data, contrasts_type) {
  tt <- terms(fixed_rhs, data = data)
  fac <- attr(tt, "factors"); labs <- attr(tt, "term.labels")
  out <- if (attr(tt, "intercept") == 1) "(Intercept)" else character(0)
  for (j in seq_along(labs)) {
    vars <- rownames(fac)[fac[, j] > 0]
    comps <- lapply(vars, function(v) {
      x <- data[[v]]
      if (is.factor(x)) {
        lv <- levels(x)
        if (fac[v, j] == 2) return(paste0(v, "_", lv))      # full dummy (not used in these cases)
        if (contrasts_type == "sum") paste0(v, "_", lv[-length(lv)]) else paste0(v, "_", lv[-1])
      } else v
    })
    g <- expand.grid(comps, stringsAsFactors = FALSE)   # first variable varies fastest, as in R and MATLAB
    out <- c(out, apply(g, 1, paste, collapse = ":"))
  }
  out
}

## random-effects terms in formula order: list of (group, names)
re_terms_from_formula <- function(formula, data) {
  bars <- lme4::findbars(formula)
  lapply(bars, function(b) {
    grp <- deparse(b[[3]])
    lhs <- b[[2]]
    mm <- model.matrix(as.formula(paste("~", deparse(lhs))), data)
    list(group = grp, names = colnames(mm))
  })
}
## map formula-order terms to lme4 internal term order (lme4 sorts terms by number of levels)
match_terms <- function(re_terms, cnms) {
  used <- rep(FALSE, length(cnms)); idx <- integer(length(re_terms))
  for (k in seq_along(re_terms)) {
    hit <- which(!used & names(cnms) == re_terms[[k]]$group &
                 vapply(cnms, function(cn) identical(unname(cn), re_terms[[k]]$names), TRUE))[1]
    if (is.na(hit)) stop("cannot match random term ", re_terms[[k]]$group)
    idx[k] <- hit; used[hit] <- TRUE
  }
  idx
}

## covariance rows in MATLAB order (column-major lower triangle): (Name1 = row, Name2 = column)
cov_rows <- function(S, nms) {
  k <- length(nms); sd <- sqrt(diag(S)); R <- if (k > 1) cov2cor(S) else matrix(1)
  N1 <- N2 <- Ty <- character(0); Est <- numeric(0)
  for (j in seq_len(k)) for (i in j:k) {
    N1 <- c(N1, nms[i]); N2 <- c(N2, nms[j])
    if (i == j) { Ty <- c(Ty, "std"); Est <- c(Est, sd[i]) } else { Ty <- c(Ty, "corr"); Est <- c(Est, R[i, j]) }
  }
  list(Name1 = I(N1), Name2 = I(N2), Type = I(Ty), Estimate = I(unname(Est)))
}

## mixed-model-equation quantities given Lambda' (q x q), Zt (q x n), X (n x p), weights w, scale phi.
## Returns cond var of b (beta, theta fixed), "SEPred" var of b (joint inverse; accounts for beta-hat; theta fixed),
## and the theta-conditional covariance of beta.
mme_quantities <- function(Lt, Zt, X, w, phi) {
  q <- nrow(Zt); p <- ncol(X)
  Lt <- as(Lt, "CsparseMatrix"); Zt <- as(Zt, "CsparseMatrix")
  LZW <- Lt %*% Zt %*% Diagonal(x = w)
  A <- as.matrix(LZW %*% t(Zt) %*% t(Lt)) + diag(q)
  B <- as.matrix(LZW %*% X)
  C <- crossprod(X, w * X)
  M <- rbind(cbind(A, B), cbind(t(B), C))
  Mi <- solve(M)
  Lm <- as.matrix(Lt)
  list(cond_var_b = phi * colSums(Lm * (solve(A) %*% Lm)),
       sepred_var_b = phi * colSums(Lm * (Mi[1:q, 1:q, drop = FALSE] %*% Lm)),
       vcov_beta = phi * Mi[q + seq_len(p), q + seq_len(p), drop = FALSE])
}

fam_info <- function(family) list(name = family$family, link = family$link)
matlab_dist <- function(fam) switch(fam, binomial = "binomial", poisson = "poisson", Gamma = "gamma",
                                    inverse.gaussian = "inverse gaussian", gaussian = "normal", fam)

## ---------- results assembly shared by all engines ----------
coef_table <- function(names, est, vc, n) {
  p <- length(est); se <- sqrt(diag(vc)); df <- n - p
  t <- est / se
  list(Name = I(names), Estimate = I(unname(est)), SE = I(unname(se)), tStat = I(unname(t)),
       DF = I(rep(df, p)), pValue = I(unname(2 * pt(-abs(t), df))))
}

## random effects table: per term (formula order) x level (factor level order) x name
re_table <- function(re_terms, levels_list, b_list, condsd_list, sepred_list) {
  G <- L <- N <- character(0); E <- CS <- SP <- numeric(0)
  for (k in seq_along(re_terms)) {
    nm <- re_terms[[k]]$names; lv <- levels_list[[k]]; nc <- length(nm)
    G <- c(G, rep(re_terms[[k]]$group, nc * length(lv)))
    L <- c(L, rep(lv, each = nc)); N <- c(N, rep(nm, times = length(lv)))
    E <- c(E, b_list[[k]]); CS <- c(CS, condsd_list[[k]]); SP <- c(SP, sepred_list[[k]])
  }
  list(Group = I(G), Level = I(L), Name = I(N), Estimate = I(E), CondSD = I(CS), SEPred = I(SP))
}

## ---------- engine: lme4 (glmer / lmer) ----------
extract_merMod <- function(fit, spec, d, re_terms, ctype) {
  n <- nrow(d); is_glmm <- isGLMM(fit)
  beta <- fixef(fit); p <- length(beta)
  fixed_rhs <- lme4::nobars(spec$r_formula); fixed_rhs[[2]] <- NULL
  cn <- matlab_coef_names(fixed_rhs, d, ctype)
  stopifnot(length(cn) == p)
  vc_lme4 <- suppressWarnings(as.matrix(vcov(fit, use.hessian = FALSE)))
  vc_hess <- tryCatch(if (is_glmm && !is.null(fit@optinfo$derivs$Hessian) && fit@devcomp$dims[["nAGQ"]] > 0)
                        suppressWarnings(as.matrix(vcov(fit, use.hessian = TRUE))) else NULL, error = function(e) NULL)
  fam <- if (is_glmm) family(fit) else gaussian()
  use_sc <- as.logical(fit@devcomp$dims[["useSc"]])
  phi <- if (use_sc) sigma(fit)^2 else 1
  w <- if (is_glmm) fit@resp$sqrtWrkWt()^2 else fit@resp$weights
  Lt <- getME(fit, "Lambdat"); Zt <- getME(fit, "Zt"); X <- getME(fit, "X")
  mq <- mme_quantities(Lt, Zt, X, w, phi)
  ## random-effect blocks
  cnms <- getME(fit, "cnms"); flist <- getME(fit, "flist"); Gp <- getME(fit, "Gp")
  idx <- match_terms(re_terms, cnms)
  b_all <- as.vector(getME(fit, "b"))
  fl_of_term <- attr(flist, "assign")
  vcl <- VarCorr(fit)
  b_list <- cs_list <- sp_list <- lv_list <- list(); covpar <- list()
  for (k in seq_along(re_terms)) {
    t <- idx[k]; rng <- (Gp[t] + 1):Gp[t + 1]
    f <- flist[[fl_of_term[t]]]
    lv <- levels(f); stopifnot(identical(lv, levels(d[[re_terms[[k]]$group]])))
    b_list[[k]] <- b_all[rng]; cs_list[[k]] <- sqrt(mq$cond_var_b[rng]); sp_list[[k]] <- sqrt(mq$sepred_var_b[rng])
    lv_list[[k]] <- lv
    S <- vcl[[t]][, , drop = FALSE]; attributes(S) <- attributes(S)[c("dim", "dimnames")]
    covpar[[k]] <- c(list(Group = re_terms[[k]]$group, NumLevels = length(lv), Names = I(re_terms[[k]]$names)),
                     cov_rows(S, re_terms[[k]]$names), list(CovarianceMatrix = unname(S)))
  }
  err_name <- if (!is_glmm) "Res Std" else "sqrt(Dispersion)"
  covpar[[length(covpar) + 1]] <- list(Group = "Error", Name = err_name, Estimate = sqrt(phi))
  ## cross-check against lme4's own condVar
  rr <- as.data.frame(ranef(fit, condVar = TRUE))
  ## fitted values
  off <- getME(fit, "offset")
  eta_c <- as.vector(X %*% beta + t(Zt) %*% b_all) + off
  eta_m <- as.vector(X %*% beta) + off
  linkinv <- fam$linkinv
  fit_c <- linkinv(eta_c); fit_m <- linkinv(eta_m)
  ll <- logLik(fit)
  res <- list(
    coefficients = coef_table(cn, beta, vc_lme4, n),
    coefficients_R_names = I(names(beta)),
    SE_full_hessian = if (!is.null(vc_hess)) I(unname(sqrt(diag(vc_hess)))) else NULL,
    CoefficientCovariance = unname(vc_lme4),
    LogLikelihood = as.numeric(ll), AIC = AIC(fit), BIC = BIC(fit), Deviance = -2 * as.numeric(ll),
    NumParameters_for_AIC = attr(ll, "df"),
    Dispersion = phi, DispersionEstimated = use_sc,
    CovarianceParameters = covpar,
    theta_lme4 = I(unname(getME(fit, "theta"))),
    RandomEffects = re_table(re_terms, lv_list, b_list, cs_list, sp_list),
    FittedConditional = I(fit_c), FittedMarginal = I(fit_m),
    NumObservations = n, NumFixedEffects = p, DFE = n - p,
    REML_criterion = if (!is_glmm && isREML(fit)) as.numeric(REMLcrit(fit)) else NULL
  )
  if (!is_glmm && isREML(fit)) res$BIC_alt_log_n_minus_p <- -2 * as.numeric(ll) + attr(ll, "df") * log(n - p)
  diag <- list(
    converged_optimizer_code = fit@optinfo$conv$opt,
    lme4_conv_messages = I(as.character(unlist(fit@optinfo$conv$lme4$messages))),
    optimizer_warnings = I(as.character(unlist(fit@optinfo$warnings))),
    gradient_at_optimum = if (!is.null(fit@optinfo$derivs$gradient)) I(fit@optinfo$derivs$gradient) else NULL,
    isSingular = isSingular(fit, tol = 1e-4),
    max_abs_diff_condSD_vs_lme4_condVar = {
      mykey <- unlist(lapply(seq_along(re_terms), function(k) paste(re_terms[[k]]$group, rep(re_terms[[k]]$names, times = length(lv_list[[k]])), rep(lv_list[[k]], each = length(re_terms[[k]]$names)), sep = "|")))
      rkey <- paste(rr$grpvar, rr$term, rr$grp, sep = "|")
      max(abs(unlist(cs_list) - rr$condsd[match(mykey, rkey)]))
    },
    max_abs_diff_fitted_vs_lme4 = max(abs(fit_c - fitted(fit))),
    max_abs_diff_vcov_mme_vs_lme4 = max(abs(mq$vcov_beta - vc_lme4)),
    optimizer = if (is.function(fit@optinfo$optimizer)) "nloptwrap (tight) + Newton polish" else fit@optinfo$optimizer,
    polish = attr(fit, "polish")
  )
  list(results = res, diagnostics = diag)
}

## ---------- engine: PQL (MASS::glmmPQL algorithm, tighter convergence) ----------
## Same iteration as MASS::glmmPQL (lme(method = "ML") on the working response with varFixed(~ 1/working weight)),
## but stopping when sum((eta - eta_old)^2) < tol * sum(eta^2) with tol = 1e-16 (glmmPQL uses 1e-6) and tight lmeControl.
pql_fit <- function(fixed, random, family, data, weights = NULL, offset = NULL, tol = 1e-16, maxit = 500) {
  n <- nrow(data); off <- if (is.null(offset)) rep(0, n) else offset
  wts <- if (is.null(weights)) rep(1, n) else weights
  data$.wts <- wts; data$.off <- off
  fit0 <- glm(fixed, family = family, data = data, weights = .wts, offset = .off)
  y <- fit0$y; w <- fit0$prior.weights
  eta <- fit0$linear.predictors
  data$.zz <- eta - off + fit0$residuals
  data$.invwt <- 1 / fit0$weights
  fixed2 <- fixed; fixed2[[2]] <- quote(.zz)
  ctrl <- lmeControl(maxIter = 1000, msMaxIter = 1000, niterEM = 100, msMaxEval = 5000,
                     tolerance = 1e-12, msTol = 1e-14, returnObject = TRUE)
  crit <- NA
  for (i in seq_len(maxit)) {
    fit <- lme(fixed2, random = random, data = data, method = "ML", weights = varFixed(~.invwt), control = ctrl)
    etaold <- eta
    eta <- as.vector(fitted(fit)) + off
    crit <- sum((eta - etaold)^2) / sum(eta^2)
    if (crit < tol) break
    mu <- family$linkinv(eta); me <- family$mu.eta(eta)
    data$.zz <- eta - off + (y - mu) / me
    data$.invwt <- 1 / (w * me^2 / family$variance(mu))
  }
  list(fit = fit, iterations = i, criterion = crit, data = data, y = y, prior_w = w, off = off, tol = tol)
}

extract_pql <- function(pf, spec, d, re_terms, ctype, family) {
  fit <- pf$fit; n <- nrow(d)
  stopifnot(length(re_terms) == 1)
  beta <- fixef(fit); p <- length(beta)
  fixed_rhs <- spec$r_formula; fixed_rhs[[2]] <- NULL
  cn <- matlab_coef_names(fixed_rhs, d, ctype)
  stopifnot(length(cn) == p)
  vc <- unname(fit$varFix)
  sig2 <- fit$sigma^2
  grp <- re_terms[[1]]$group; nms <- re_terms[[1]]$names
  Psi <- as.matrix(pdMatrix(fit$modelStruct$reStruct)[[1]]) * sig2
  lv <- levels(d[[grp]])
  ## random effects in our level order
  re <- as.matrix(ranef(fit)); re <- re[match(lv, rownames(re)), , drop = FALSE]
  stopifnot(!anyNA(re), identical(colnames(re), nms))
  b <- as.vector(t(re))
  ## MME on pseudo data: Zt in level-major order, Lambda' = chol factor of Psi/sig2, weights 1/invwt, phi = sig2
  Zraw <- model.matrix(as.formula(paste("~", paste(deparse(lme4::findbars(spec$matlab_re_formula)[[1]][[2]]), collapse = ""))), d)
  J <- Matrix::fac2sparse(d[[grp]], drop.unused.levels = FALSE)   # levels x n
  Zt <- do.call(rbind, lapply(seq_along(lv), function(j) t(Zraw * J[j, ])))  # (levels*nc) x n, level-major
  Zt <- Matrix(Zt, sparse = TRUE)
  Lt1 <- t(chol(Psi / sig2))        # lower-tri factor L with L L' = Psi/sig2 ; Lambda' = t(L)
  Lt <- kronecker(Diagonal(length(lv)), Matrix(t(Lt1)))
  X <- model.matrix(fixed_rhs, d)
  winv <- pf$data$.invwt
  mq <- mme_quantities(Lt, Zt, X, 1 / winv, sig2)
  ## consistency checks
  eta_c <- as.vector(X %*% beta + t(Zt) %*% b) + pf$off
  eta_m <- as.vector(X %*% beta) + pf$off
  ll <- as.numeric(logLik(fit))
  res <- list(
    coefficients = coef_table(cn, beta, vc, n),
    coefficients_R_names = I(names(beta)),
    CoefficientCovariance = vc,
    LogLikelihood = ll, AIC = AIC(fit), BIC = BIC(fit), Deviance = -2 * ll,
    LogLikelihood_type = "pseudo-likelihood: nlme ML log-likelihood of the final working-response LME (includes varFixed weight terms); MATLAB MPL definition unverified",
    NumParameters_for_AIC = attr(logLik(fit), "df"),
    Dispersion = sig2, DispersionEstimated = TRUE,
    CovarianceParameters = list(
      c(list(Group = grp, NumLevels = length(lv), Names = I(nms)), cov_rows(Psi, nms), list(CovarianceMatrix = unname(Psi))),
      list(Group = "Error", Name = "sqrt(Dispersion)", Estimate = sqrt(sig2))),
    RandomEffects = re_table(re_terms, list(lv), list(b), list(sqrt(mq$cond_var_b)), list(sqrt(mq$sepred_var_b))),
    FittedConditional = I(family$linkinv(eta_c)), FittedMarginal = I(family$linkinv(eta_m)),
    NumObservations = n, NumFixedEffects = p, DFE = n - p
  )
  ## compare with stock MASS::glmmPQL (tolerance 1e-6)
  stock <- tryCatch(capture_all(eval(spec$stock_pql_call)), error = function(e) NULL)
  diag <- list(
    pql_iterations = pf$iterations, pql_final_criterion = pf$criterion, pql_tol = pf$tol,
    max_abs_diff_eta_vs_lme_fitted = max(abs(eta_c - (as.vector(fitted(fit)) + pf$off))),
    max_abs_diff_vcov_mme_vs_lme = max(abs(mq$vcov_beta - vc)),
    stock_glmmPQL_max_abs_diff_beta = if (!is.null(stock)) max(abs(fixef(stock$value) - beta)) else NULL,
    stock_glmmPQL_warnings = if (!is.null(stock)) I(stock$warnings) else NULL
  )
  list(results = res, diagnostics = diag)
}

## ---------- engine: glmmTMB ----------
extract_glmmTMB <- function(fit, spec, d, re_terms, ctype, refit_fun) {
  n <- nrow(d)
  beta <- fixef(fit)$cond; p <- length(beta)
  fixed_rhs <- lme4::nobars(spec$r_formula); fixed_rhs[[2]] <- NULL
  cn <- matlab_coef_names(fixed_rhs, d, ctype)
  vc_full <- as.matrix(vcov(fit)$cond)
  fam <- family(fit)
  sig <- sigma(fit)
  phi <- if (fam$family %in% c("binomial", "poisson")) 1 else sig^2
  ## (a) Laplace-Hessian vcov with theta and dispersion fixed: refit with theta, betad mapped (fixed) at the estimates
  pl <- fit$obj$env$parList(fit$fit$par, fit$fit$parfull)
  fm <- refit_fun(pl)
  vc_lapl_fixed <- as.matrix(vcov(fm)$cond)
  ## (b) lme4-style (RX) vcov and SEPred: inverse of the joint Hessian of -log p(y, b | beta, theta, dispersion)
  ##     with respect to (beta, b), at the estimates. Obtained from glmmTMB's REML structure (beta integrated,
  ##     i.e. treated as 'random') evaluated at the ML parameter values.
  env <- fit$obj$env
  lp <- env$last.par.best
  TS <- glmmTMB(spec$r_formula, data = d, family = fam, REML = TRUE, doFit = FALSE)
  objR <- with(TS, TMB::MakeADFun(data.tmb, parameters, map = mapArg, random = randomArg, silent = TRUE, DLL = "glmmTMB"))
  parR <- objR$env$par
  for (nm in unique(names(parR))) parR[names(parR) == nm] <- lp[names(lp) == nm]
  HJ <- as.matrix(objR$env$spHess(parR, random = TRUE)); HJi <- solve(HJ)
  rnR <- names(parR)[objR$env$random]
  vc_cond <- HJi[rnR == "beta", rnR == "beta", drop = FALSE]
  sp_var <- diag(HJi)[rnR == "b"]
  ## conditional variance of b given (beta, theta, dispersion)
  H <- env$spHess(lp, random = TRUE)
  cond_var <- diag(solve(as.matrix(H)))
  bvec <- lp[env$random]
  rt <- fit$modelInfo$reTrms$cond
  cnms <- rt$cnms; flist <- rt$flist; fl_of_term <- attr(flist, "assign")
  Gp <- c(0L, cumsum(vapply(seq_along(cnms), function(t) length(cnms[[t]]) * nlevels(flist[[fl_of_term[t]]]), 1L)))
  idx <- match_terms(re_terms, cnms)
  vcl <- VarCorr(fit)$cond
  b_list <- cs_list <- sp_list <- lv_list <- list(); covpar <- list()
  for (k in seq_along(re_terms)) {
    t <- idx[k]; rng <- (Gp[t] + 1):Gp[t + 1]
    lv <- levels(flist[[fl_of_term[t]]]); stopifnot(identical(lv, levels(d[[re_terms[[k]]$group]])))
    b_list[[k]] <- unname(bvec[rng]); cs_list[[k]] <- sqrt(cond_var[rng]); sp_list[[k]] <- sqrt(sp_var[rng]); lv_list[[k]] <- lv
    S <- vcl[[t]][, , drop = FALSE]; attributes(S) <- attributes(S)[c("dim", "dimnames")]
    covpar[[k]] <- c(list(Group = re_terms[[k]]$group, NumLevels = length(lv), Names = I(re_terms[[k]]$names)),
                     cov_rows(S, re_terms[[k]]$names), list(CovarianceMatrix = unname(S)))
  }
  covpar[[length(covpar) + 1]] <- list(Group = "Error", Name = "sqrt(Dispersion)", Estimate = sqrt(phi))
  ll <- logLik(fit)
  res <- list(
    coefficients = coef_table(cn, beta, vc_cond, n),
    coefficients_R_names = I(names(beta)),
    SE_full_hessian = I(unname(sqrt(diag(vc_full)))),
    SE_laplace_hessian_theta_dispersion_fixed = I(unname(sqrt(diag(vc_lapl_fixed)))),
    CoefficientCovariance = unname(vc_cond),
    LogLikelihood = as.numeric(ll), AIC = AIC(fit), BIC = BIC(fit), Deviance = -2 * as.numeric(ll),
    NumParameters_for_AIC = attr(ll, "df"),
    Dispersion = phi, DispersionEstimated = !(fam$family %in% c("binomial", "poisson")),
    glmmTMB_sigma = sig,
    CovarianceParameters = covpar,
    RandomEffects = re_table(re_terms, lv_list, b_list, cs_list, sp_list),
    FittedConditional = I(unname(predict(fit, type = "response"))),
    FittedMarginal = I(unname(predict(fit, re.form = NA, type = "response"))),
    NumObservations = n, NumFixedEffects = p, DFE = n - p
  )
  diag <- list(convergence = fit$fit$convergence, message = fit$fit$message, pdHess = fit$sdr$pdHess,
               max_abs_gradient = max(abs(fit$sdr$gradient.fixed)))
  list(results = res, diagnostics = diag)
}

## ---------- reference glmer fit: tight optimisation + Newton polishing ----------
## 1) glmer with tight nloptwrap tolerances (tight_glmer); 2) Newton steps on lme4's own deviance function
## (devFunOnly, PIRLS tolPwrss = 1e-12; numDeriv gradient/Hessian) while the gradient keeps shrinking;
## 3) the final merMod is rebuilt at the polished (theta, beta) with a pass-through optimizer, so that every
## reported quantity (vcov, condVar, logLik, derivs) is lme4's own at the polished optimum.
ref_passthrough <- function(par, fn, lower, upper, control) list(par = par, fval = fn(par), conv = 0, message = "passthrough (polished start)")
ctl_pirls12 <- glmerControl(optimizer = "nloptwrap", tolPwrss = 1e-12)
glmer_ref <- function(cl, env) {
  fitA <- eval(cl, env)
  is_lmm <- !isGLMM(fitA)
  nAGQ <- if (is_lmm) 0L else fitA@devcomp$dims[["nAGQ"]]   # lmer: profiled deviance in theta only
  th <- getME(fitA, "theta"); be <- fixef(fitA); lower <- getME(fitA, "lower")
  dcl <- cl; dcl$control <- if (is_lmm) quote(lmerControl()) else quote(ctl_pirls12); dcl$devFunOnly <- TRUE
  dfun <- eval(dcl, env)
  pp <- if (nAGQ > 0) c(th, be) else th
  lowb <- if (nAGQ > 0) c(lower, rep(-Inf, length(be))) else lower
  fin <- is.finite(lowb)
  gnorm <- function(p) max(abs(numDeriv::grad(dfun, p)))
  g_before <- g0 <- gnorm(pp); steps <- 0L; f0 <- dfun(pp)
  at_boundary <- any(pp[fin] - lowb[fin] < 1e-5)
  if (!at_boundary) for (i in 1:8) {
    H <- numDeriv::hessian(dfun, pp); g <- numDeriv::grad(dfun, pp)
    cand <- tryCatch(pp - solve(H, g), error = function(e) NULL)
    if (is.null(cand) || any(cand[fin] < lowb[fin])) break
    gc <- gnorm(cand); fc <- dfun(cand)
    if (!(gc < g0) || fc > f0 + 1e-9) break
    pp <- cand; g0 <- gc; f0 <- fc; steps <- steps + 1L
    if (g0 < 1e-8) break
  }
  fcl <- cl
  fcl$control <- if (is_lmm) quote(lmerControl(optimizer = ref_passthrough)) else quote(glmerControl(optimizer = ref_passthrough, tolPwrss = 1e-12))
  nt <- length(th)
  fcl$start <- if (nAGQ > 0) list(theta = unname(pp[seq_len(nt)]), fixef = unname(pp[-seq_len(nt)])) else list(theta = unname(pp))
  fit <- eval(fcl, env)
  attr(fit, "polish") <- list(method = "Newton on lme4 deviance function (numDeriv)", steps = steps,
                              at_boundary = at_boundary, max_abs_grad_deviance_before = g_before,
                              max_abs_grad_deviance_after = g0,
                              deviance_change = f0 - dfun(if (nAGQ > 0) c(th, be) else th),
                              max_abs_param_change = max(abs(pp - (if (nAGQ > 0) c(th, be) else th))))
  fit
}

## ---------- case runner ----------
tight_glmer <- glmerControl(optimizer = "nloptwrap", tolPwrss = 1e-10,
                            optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, ftol_rel = 1e-15, maxeval = 1e5))
tight_lmer <- lmerControl(optimizer = "nloptwrap",
                          optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, ftol_rel = 1e-15, maxeval = 1e5))

r_versions <- function() list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
  glmmTMB = as.character(packageVersion("glmmTMB")), TMB = as.character(packageVersion("TMB")),
  MASS = as.character(packageVersion("MASS")), nlme = as.character(packageVersion("nlme")),
  Matrix = as.character(packageVersion("Matrix")), nloptr = as.character(packageVersion("nloptr")))

run_case <- function(spec, dir) {
  rd <- read_case_csv(file.path(dir, spec$data), spec$categorical)
  d <- rd$data
  ctype <- if (identical(spec$matlab$DummyVarCoding, "effects")) "sum" else "treatment"
  if (ctype == "sum") for (v in names(spec$categorical)) contrasts(d[[v]]) <- contr.sum(nlevels(d[[v]]))
  re_terms <- re_terms_from_formula(spec$matlab_re_formula, d)
  env <- environment()
  cap <- capture_all(if (spec$engine %in% c("glmer", "lmer")) glmer_ref(spec$r_call, env) else eval(spec$r_call, envir = env))
  fit <- cap$value
  out <- switch(spec$engine,
    glmer = , lmer = extract_merMod(fit, spec, d, re_terms, ctype),
    pql = extract_pql(fit, spec, d, re_terms, ctype, spec$family),
    glmmTMB = extract_glmmTMB(fit, spec, d, re_terms, ctype, function(pl) eval(spec$refit_call)))
  ## constant (parameter-free) part of LogLikelihood under lme4's conventions, to help reconcile other conventions
  if (spec$engine != "pql") {
    yv <- d[[spec$matlab$response]]
    wv <- if (is.null(spec$matlab$Weights)) rep(1, nrow(d)) else d[[spec$matlab$Weights]]
    out$results$LogLikelihood_constant <- switch(spec$matlab$Distribution,
      binomial = { m <- wv * (if (is.null(spec$matlab$BinomialSize)) 1 else d[[spec$matlab$BinomialSize]]); sum(lchoose(m, round(m * yv))) },
      poisson = -sum(wv * lgamma(yv + 1)),
      NULL)
  }
  opts <- spec$matlab[c("Distribution", "Link", "FitMethod", "DummyVarCoding", "BinomialSize", "Weights", "Offset", "DispersionFlag")]
  names(opts) <- c("Distribution", "Link", "FitMethod", "DummyVarCoding", "BinomialSize", "Weights", "Offset", "DispersionFlag")
  list(
    schema_version = 1L,
    case = spec$name,
    description = spec$description,
    data_file = spec$data,
    response = spec$matlab$response,
    categorical_levels = rd$levels,
    matlab = list(formula = spec$matlab$formula, options = opts),
    r = list(engine = spec$engine_label, call = paste(deparse(spec$r_call, width.cutoff = 500L), collapse = " "),
             warnings = I(cap$warnings), messages = I(cap$messages), notes = I(spec$notes %||% character(0))),
    results = out$results,
    diagnostics = out$diagnostics,
    versions = r_versions()
  )
}
`%||%` <- function(a, b) if (is.null(a)) b else a

## spec constructors -----------------------------------------------------------
## r_call expressions are evaluated with the data frame `d` in scope.
mk_glmer <- function(name, data, description, categorical, matlab, r_formula, family_expr, nAGQ,
                     weights = NULL, offset = NULL, notes = NULL) {
  cl <- bquote(glmer(.(r_formula), data = d, family = .(family_expr), nAGQ = .(nAGQ), control = tight_glmer))
  if (!is.null(weights)) cl$weights <- as.name(weights)
  if (!is.null(offset)) cl$offset <- as.name(offset)
  list(name = name, data = data, description = description, categorical = categorical, matlab = matlab,
       r_formula = r_formula, matlab_re_formula = r_formula, engine = "glmer",
       engine_label = sprintf("lme4::glmer (nAGQ = %d)", nAGQ), r_call = cl,
       notes = c(notes, "glmer fitted by glmer_ref(): the call shown with tight nloptwrap tolerances, then Newton polishing of lme4's deviance function (PIRLS tolPwrss 1e-12); see diagnostics$polish"))
}
mk_lmer <- function(name, data, description, categorical, matlab, r_formula, REML, weights = NULL, notes = NULL) {
  cl <- bquote(lmer(.(r_formula), data = d, REML = .(REML), control = tight_lmer))
  if (!is.null(weights)) cl$weights <- as.name(weights)
  list(name = name, data = data, description = description, categorical = categorical, matlab = matlab,
       r_formula = r_formula, matlab_re_formula = r_formula, engine = "lmer",
       engine_label = sprintf("lme4::lmer (REML = %s)", REML), r_call = cl,
       notes = c(notes, "lmer fitted by glmer_ref(): the call shown with tight nloptwrap tolerances, then Newton polishing of lme4's profiled deviance in theta; see diagnostics$polish"))
}
## fixed: fixed formula with response (glm style, may be cbind); random: nlme random formula; re_formula: lme4-style (for naming)
mk_pql <- function(name, data, description, categorical, matlab, fixed, random, family_expr, re_formula,
                   weights = NULL, offset = NULL, notes = NULL) {
  cl <- bquote(pql_fit(.(fixed), random = .(random), family = .(family_expr), data = d))
  stock <- bquote(MASS::glmmPQL(.(fixed), random = .(random), family = .(family_expr), data = d, verbose = FALSE))
  if (!is.null(weights)) { cl$weights <- call("[[", quote(d), weights); stock$weights <- as.name(weights) }
  if (!is.null(offset)) {
    cl$offset <- call("[[", quote(d), offset)
    f2 <- fixed; f2[[3]] <- call("+", f2[[3]], call("offset", as.name(offset))); stock[[2]] <- f2
  }
  list(name = name, data = data, description = description, categorical = categorical, matlab = matlab,
       r_formula = fixed, matlab_re_formula = re_formula, engine = "pql", family = eval(family_expr),
       engine_label = "PQL: MASS::glmmPQL algorithm (lme ML on working response, varFixed weights) with tol 1e-16",
       r_call = cl, stock_pql_call = stock, notes = notes)
}
## glmmTMB fit polished to a tight optimum: default fit, then Newton steps on the TMB objective
## (finite-difference Hessian of the analytic gradient), then a refit started at the polished parameters.
glmmTMB_polished <- function(formula, data, family, newton_steps = 10) {
  fit0 <- glmmTMB(formula, data = data, family = family)
  o <- fit0$obj; p <- fit0$fit$par; g0 <- max(abs(o$gr(p)))
  for (i in seq_len(newton_steps)) {
    H <- optimHess(p, o$fn, o$gr)
    pn <- p - solve(H, as.vector(o$gr(p)))
    gn <- max(abs(o$gr(pn)))
    if (!is.finite(gn) || gn >= g0) break
    p <- pn; g0 <- gn
    if (g0 < 1e-10) break
  }
  pl <- o$env$parList(p)
  st <- pl[intersect(c("beta", "betad", "theta"), names(pl))]
  st <- st[vapply(st, length, 1L) > 0]
  glmmTMB(formula, data = data, family = family, start = st)
}
mk_glmmTMB <- function(name, data, description, categorical, matlab, r_formula, family_expr, notes = NULL) {
  cl <- bquote(glmmTMB_polished(.(r_formula), data = d, family = .(family_expr)))
  refit <- bquote(glmmTMB(.(r_formula), data = d, family = .(family_expr),
                          start = list(beta = pl$beta, theta = pl$theta, betad = pl$betad),
                          map = list(theta = factor(rep(NA, length(pl$theta))), betad = factor(rep(NA, length(pl$betad))))))
  list(name = name, data = data, description = description, categorical = categorical, matlab = matlab,
       r_formula = r_formula, matlab_re_formula = r_formula, engine = "glmmTMB",
       engine_label = "glmmTMB (Laplace, ML dispersion)", r_call = cl, refit_call = refit,
       notes = c(notes, "glmmTMB fitted by glmmTMB_polished() (default fit + Newton polish + refit). SE/CoefficientCovariance and SEPred: inverse of the joint Hessian of -log p(y,b|beta,theta,dispersion) in (beta,b) (same definition as lme4 vcov(use.hessian=FALSE)); SE_full_hessian: sdreport (theta, dispersion uncertainty included); SE_laplace_hessian_theta_dispersion_fixed: Hessian of the Laplace marginal in beta with theta, dispersion fixed. TMB uses the observed (not expected) Hessian in the Laplace approximation, which matters for non-canonical links"))
}
mm <- function(formula, response, Distribution, Link, FitMethod, DummyVarCoding = "reference", BinomialSize = NULL,
               Weights = NULL, Offset = NULL, DispersionFlag = FALSE)
  list(formula = formula, response = response, Distribution = Distribution, Link = Link, FitMethod = FitMethod,
       DummyVarCoding = DummyVarCoding, BinomialSize = BinomialSize, Weights = Weights, Offset = Offset,
       DispersionFlag = DispersionFlag)

run_all <- function(cases, dir, only = NULL) {
  for (spec in cases) {
    if (!is.null(only) && !(spec$name %in% only)) next
    t0 <- proc.time()[["elapsed"]]
    res <- tryCatch(run_case(spec, dir), error = function(e) { message("ERROR in ", spec$name, ": ", conditionMessage(e)); NULL })
    if (is.null(res)) next
    write_json_file(res, file.path(dir, paste0(spec$name, ".json")))
    message(sprintf("%-45s %6.1fs  logLik=%s  warnings=%d", spec$name, proc.time()[["elapsed"]] - t0,
                    format(res$results$LogLikelihood, digits = 10), length(res$r$warnings)))
  }
}
## ==== END LIB ====
