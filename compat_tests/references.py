"""Load the stored lme4 / MATLAB references and fit the same models with fitglme.

Used by the compat tests and by ``python -m compat_tests.references`` (prints the measured
worst differences per case, the figures quoted in docs/).
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from fitglme import fitglme

ROOT = Path(__file__).resolve().parent.parent / "reference_outputs"
LME4 = ROOT / "lme4"
MATLAB = ROOT / "matlab"
EXTRA = ROOT / "extra"

LME4_CASES = sorted(p.stem for p in LME4.glob("*.json"))
#: reference_outputs/extra: made by reference_outputs/generate/extra_references.R (every file there
#: with a ``results`` key is a case; laplace_ri_selfcheck.json is the generator's own check).
EXTRA_CASES = sorted(p.stem for p in EXTRA.glob("*.json") if "results" in json.loads(p.read_text()))


def read_table(folder: Path, data_file: str, levels: dict) -> pd.DataFrame:
    """A reference CSV with the listed columns categorical (levels in the given order)."""
    df = pd.read_csv(folder / data_file, dtype={c: str for c in levels})
    for col, lev in levels.items():
        df[col] = pd.Categorical(df[col], categories=lev)
    return df


def load_case(case: str, folder: Path = LME4) -> tuple[dict, pd.DataFrame]:
    """The JSON of a reference case and its data (categoricals with the listed levels)."""
    ref = json.loads((folder / f"{case}.json").read_text())
    return ref, read_table(folder, ref["data_file"], ref["categorical_levels"])


def cauchit_link() -> dict:
    """The cauchit link g(mu) = tan(pi (mu - 1/2)) as a MATLAB custom-link struct (R's
    ``make.link("cauchit")``; written out here, not taken from fitglme)."""
    return {
        "Name": "cauchit",
        "Link": lambda mu: np.tan(np.pi * (mu - 0.5)),
        "Derivative": lambda mu: np.pi / np.cos(np.pi * (mu - 0.5)) ** 2,
        "SecondDerivative": lambda mu: (2 * np.pi**2 * np.tan(np.pi * (mu - 0.5))
                                        / np.cos(np.pi * (mu - 0.5)) ** 2),
        "Inverse": lambda eta: 0.5 + np.arctan(eta) / np.pi,
    }


CUSTOM_LINKS = {"cauchit": cauchit_link}


def case_options(ref: dict) -> dict:
    """The MATLAB name-value options of a case (column names for vectors)."""
    o = dict(ref["matlab"]["options"])
    out = {
        "Distribution": o["Distribution"],
        "FitMethod": o["FitMethod"],
        "DummyVarCoding": o.get("DummyVarCoding", "reference"),
    }
    link = o.get("Link")  # absent: MATLAB's default (canonical) link
    if isinstance(link, dict):
        out["Link"] = CUSTOM_LINKS[link["custom"]]()
    elif link is not None:
        out["Link"] = link
    for k in ("BinomialSize", "Weights", "Offset", "CovariancePattern", "Exclude"):
        if o.get(k):
            out[k] = o[k]
    if o.get("DispersionFlag"):
        out["DispersionFlag"] = True
    return out


@lru_cache(maxsize=None)
def fit_case(case: str, folder: Path = LME4):
    ref, df = load_case(case, folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glme = fitglme(df, ref["matlab"]["formula"], **case_options(ref))
    return glme, ref


@dataclass
class Diffs:
    """Measured differences between a fit and its reference (all maxima over the compared entries)."""

    loglik: float  # (ours - our constant) - (reference - its constant): > 0 means we are higher
    beta_rel: float  # max |diff| / |ref|
    beta_scaled: float  # max |diff| / max(|ref|, SE)
    beta_se: float  # max |diff| / SE_ref (fixed effects in units of their SE)
    se_rel: float
    tstat: float  # max |t - t_ref| / max(|t_ref|, 1)
    log_pvalue: float  # max |log p - log p_ref| / max(|log p_ref|, 1)
    coef_cov: float  # max |C - C_ref| / sqrt(C_ref_ii C_ref_jj), over the whole matrix
    cov_rel: float  # max relative difference of std / corr parameters, every group
    dispersion_rel: float
    criteria: float  # max |diff| of AIC, BIC, Deviance (constant-corrected like loglik)
    theta_rel: float | None  # lme4's theta (relative Cholesky factor); None: the reference has none
    condsd_rel: float | None  # conditional SD of the random effects; None: the reference has none
    fitted_rel: float  # conditional fitted values
    names_match: bool
    problems: list[str]  # structural mismatches (groups, names, types, counts): must be empty


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.abs(b))) if a.size else 0.0


def _covariance_problems(glme, ref: dict) -> tuple[list[str], list[float], list[float]]:
    """Compare the covariance groups one by one: group, levels, names and types; no truncation."""
    rows = glme._covariance_rows()
    refs = [rc for rc in ref["results"]["CovarianceParameters"] if rc["Group"] != "Error"]
    problems = []
    if len(rows) != len(refs):
        problems.append(f"{len(rows)} covariance groups, the reference has {len(refs)}")
    ours, theirs = [], []
    for k, ((g, m, n1, n2, t, e, _), rc) in enumerate(zip(rows, refs)):
        for what, a, b in [("Group", g, rc["Group"]), ("NumLevels", m, rc["NumLevels"]),
                           ("Name1", list(n1), rc["Name1"]), ("Name2", list(n2), rc["Name2"]),
                           ("Type", list(t), rc["Type"]), ("count", len(e), len(rc["Estimate"]))]:
            if a != b:
                problems.append(f"group {k}: {what} {a!r}, the reference has {b!r}")
        ours.extend(e)
        theirs.extend(rc["Estimate"])
    last = ref["results"]["CovarianceParameters"][-1]
    if last["Group"] != "Error":
        problems.append("the reference's last covariance entry is not the Error group")
    return problems, ours, theirs


def _theta(glme) -> np.ndarray:
    """lme4's theta from our psi: the lower Cholesky factor of each term's covariance, relative
    to the residual standard deviation for Normal fits (lme4's lmer convention), column-major
    lower triangle, term by term (formula order; no case here has lme4 reorder its terms)."""
    scale = np.sqrt(glme.Dispersion) if glme.Distribution.lower() == "normal" else 1.0
    out = []
    for psi in glme.fit_state.result.psi:
        L = np.linalg.cholesky(np.asarray(psi, float)) / scale
        out.extend(L.T[np.triu_indices_from(L)])  # = L's lower triangle in column-major order
    return np.array(out)


def dense_condsd(glme) -> np.ndarray:
    """sqrt diag Var(b | y, beta, theta) = sqrt diag Lambda (Lambda'Z'WZ Lambda + I)^-1 Lambda',
    computed densely (test sizes only) from the fit's final weights and factors, in MATLAB's B order.

    The reference's definition (README of the references: lme4 condVar, W = final PIRLS weights).
    W of Laplace fits carries 1/dispersion; PL fits keep W at dispersion 1 (docs/internals.md).
    """
    from scipy.linalg import block_diag

    res = glme.fit_state.result
    W = np.asarray(res.W, float)
    if glme.fit_state.spec.method in ("MPL", "REMPL"):
        W = W / float(res.dispersion)
    n = W.size
    Zs, Lams = [], []
    for blk, L in zip(glme.fit_state.problem.design.re_blocks, res.Ls):
        m, q = blk.nlevels, len(blk.names)
        Zb = np.broadcast_to(np.asarray(blk.Z, float), (n, q))
        Zk = np.zeros((n, m * q))
        for j in range(q):
            Zk[np.arange(n), blk.index * q + j] = Zb[:, j]
        Zs.append(Zk)
        Lams.append(np.kron(np.eye(m), np.asarray(L, float)))
    ZL = np.hstack(Zs) @ block_diag(*Lams)
    Lam = block_diag(*Lams)
    A = ZL.T @ (W[:, None] * ZL) + np.eye(ZL.shape[1])
    return np.sqrt(np.diag(Lam @ np.linalg.solve(A, Lam.T)))


def compare(glme, ref: dict) -> Diffs:
    r = ref["results"]
    names = r["coefficients"]["Name"]
    names_match = sorted(names) == sorted(glme.CoefficientNames)
    order = [glme.CoefficientNames.index(n) for n in names] if names_match else list(range(len(names)))
    est = np.asarray(glme.fit_state.result.beta, float)[order]
    C = glme.CoefficientCovariance[np.ix_(order, order)]
    se = glme.Coefficients["SE"].to_numpy()[order]
    rest = np.array(r["coefficients"]["Estimate"])
    rse = np.array(r["coefficients"]["SE"])
    t = glme.Coefficients["tStat"].to_numpy()[order]
    pv = glme.Coefficients["pValue"].to_numpy()[order]
    rt, rpv = np.array(r["coefficients"]["tStat"]), np.array(r["coefficients"]["pValue"])
    rC = np.array(r["CoefficientCovariance"], float)
    problems, ours_cov, ref_cov = _covariance_problems(glme, ref)
    ours_c, lme4_c = loglik_constants(glme, ref)
    shift = ours_c - lme4_c
    mc = glme.ModelCriterion
    # MATLAB's REMPL BIC uses log(n - p) (docs/choices.md): the reference carries that variant.
    bic_ref = r["BIC_alt_log_n_minus_p"] if glme.FitMethod == "REMPL" else r["BIC"]
    criteria = max(abs(float(mc["AIC"][0]) + 2 * shift - r["AIC"]),
                   abs(float(mc["BIC"][0]) + 2 * shift - bic_ref),
                   abs(float(mc["Deviance"][0]) + 2 * shift - r["Deviance"]))
    theta = r.get("theta_lme4")
    csd = r["RandomEffects"].get("CondSD")
    return Diffs(
        loglik=(glme.LogLikelihood - ours_c) - (r["LogLikelihood"] - lme4_c),
        beta_rel=_rel(est, rest),
        beta_scaled=float(np.max(np.abs(est - rest) / np.maximum(np.abs(rest), rse))),
        beta_se=float(np.max(np.abs(est - rest) / rse)),
        se_rel=_rel(se, rse),
        tstat=float(np.max(np.abs(t - rt) / np.maximum(np.abs(rt), 1.0))),
        log_pvalue=float(np.max(np.abs(np.log(pv) - np.log(rpv)) / np.maximum(np.abs(np.log(rpv)), 1.0))),
        coef_cov=float(np.max(np.abs(C - rC) / np.sqrt(np.outer(np.diag(rC), np.diag(rC))))),
        cov_rel=_rel(ours_cov, ref_cov) if not problems else np.inf,
        dispersion_rel=_rel([glme.Dispersion], [r["Dispersion"]]),
        criteria=criteria,
        theta_rel=None if theta is None else _rel(_theta(glme), theta),
        condsd_rel=None if csd is None else _rel(dense_condsd(glme), csd),
        fitted_rel=_rel(glme.fit_state.result.mu, r["FittedConditional"]),
        names_match=names_match,
        problems=problems,
    )


def loglik_constants(glme, ref) -> tuple[float, float]:
    """The parameter-free constants inside our LogLikelihood and inside the reference's.

    Both are computed here from the data, independently of the fit. The reference's own
    ``LogLikelihood_constant`` (where it has one) must equal the lme4-convention value, which
    makes the log-likelihood comparison two-sided: after removing the constants, the remaining
    (parameter-dependent) parts must agree. Constants (the references' README):
    binomial sum log C(m, m y) with m = BinomialSize * Weights in both conventions;
    Poisson: lme4 -sum w log(y!), MATLAB sum log f(w y; w mu)'s constant
    sum (w y log w - log Gamma(w y + 1)) (conditionalLogLikelihood, docs/matlab_source_notes.md item 5).
    PL fits report a pseudo-likelihood without these constants; Normal and Gamma have none here.
    """
    from scipy.special import gammaln, xlogy

    stored = ref["results"].get("LogLikelihood_constant")
    dist = glme.Distribution.lower()
    if glme.FitMethod in ("MPL", "REMPL") or dist not in ("binomial", "poisson"):
        assert stored is None, f"reference constant {stored} where none was expected"
        return 0.0, 0.0
    y, w = glme.fit_state.problem.resp.y, glme.fit_state.problem.resp.w
    if dist == "binomial":
        m = glme.fit_state.problem.resp.pw
        k = np.round(m * y)
        const = float(np.sum(gammaln(m + 1) - gammaln(k + 1) - gammaln(m - k + 1)))
        ours, lme4 = const, const
    else:
        ours = float(np.sum(xlogy(w * y, w) - gammaln(w * y + 1)))
        lme4 = float(-np.sum(w * gammaln(y + 1)))
    assert stored is not None and abs(stored - lme4) <= 1e-10 * max(1.0, abs(lme4)), (stored, lme4)
    return ours, lme4


def poisson_weight_constant_shift(glme, ref) -> float:
    """MATLAB's minus lme4's parameter-free constant: non-zero only for weighted Poisson.

    lme4 uses sum w log f(y; mu); MATLAB (conditionalLogLikelihood, see docs/matlab_source_notes.md
    item 5) uses sum log f(w y; w mu). The kernels w (y log mu - mu) are identical, so the two
    log-likelihoods differ by exactly sum (w y log w - log Gamma(w y + 1)) + sum w log Gamma(y + 1),
    which does not depend on any parameter. Zero for unit weights and other distributions.
    """
    ours, lme4 = loglik_constants(glme, ref)
    return ours - lme4


def load_matlab_fixtures() -> tuple[dict, pd.DataFrame]:
    fx = json.loads((MATLAB / "fixtures_r2026a.json").read_text())
    df = pd.read_csv(MATLAB / fx["data_file"])
    return fx, df


def main() -> None:  # pragma: no cover - reporting helper
    cols = ["loglik", "beta_rel", "beta_scaled", "beta_se", "se_rel", "tstat", "log_pvalue", "coef_cov", "cov_rel",
            "dispersion_rel", "criteria", "theta_rel", "condsd_rel", "fitted_rel"]
    print(f"{'case':38s} " + " ".join(f"{c[:9]:>9s}" for c in cols))
    for case in LME4_CASES:
        glme, ref = fit_case(case)
        d = compare(glme, ref)
        cells = [getattr(d, c) for c in cols]
        print(f"{case:38s} " + " ".join("        -" if v is None else f"{v:9.1e}" for v in cells)
              + ("" if not d.problems else f"  PROBLEMS: {d.problems}"))
    fx, df = load_matlab_fixtures()
    for f in fx["fits"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = fitglme(df, f"{f['response']} ~ xL + (1 | g)", Distribution=f["Distribution"], FitMethod=f["FitMethod"])
        c = g.Coefficients
        print(f"MATLAB {f['response']} {f['FitMethod']:20s} dLL {g.LogLikelihood - f['LogLikelihood']:10.2e} "
              f"dbeta {np.max(np.abs(c['Estimate'] - f['Estimate'])):9.2e} dSE {np.max(np.abs(c['SE'] - f['SE'])):9.2e}")


if __name__ == "__main__":  # pragma: no cover
    main()
