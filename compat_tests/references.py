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
    loglik: float  # ours - reference (positive: we found a higher likelihood)
    beta_rel: float  # max |diff| / |ref|
    beta_scaled: float  # max |diff| / max(|ref|, SE)
    se_rel: float
    cov_rel: float  # max relative difference of std / corr parameters
    dispersion_rel: float
    names_match: bool


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.abs(b))) if a.size else 0.0


def compare(glme, ref: dict) -> Diffs:
    r = ref["results"]
    names = r["coefficients"]["Name"]
    coef = glme.Coefficients.set_index("Name")
    names_match = sorted(names) == sorted(coef.index)
    est = coef.loc[names, "Estimate"].to_numpy()
    se = coef.loc[names, "SE"].to_numpy()
    rest = np.array(r["coefficients"]["Estimate"])
    rse = np.array(r["coefficients"]["SE"])
    ours_cov = []
    ref_cov = []
    rows = glme._covariance_rows()
    for (g, m, n1, n2, t, e, _), rc in zip(rows, r["CovarianceParameters"][:-1]):
        assert rc["Group"] == g and rc["NumLevels"] == m
        ours_cov.extend(e)
        ref_cov.extend(rc["Estimate"])
    return Diffs(
        loglik=glme.LogLikelihood - r["LogLikelihood"] - poisson_weight_constant_shift(glme, ref),
        beta_rel=_rel(est, rest),
        beta_scaled=float(np.max(np.abs(est - rest) / np.maximum(np.abs(rest), rse))),
        se_rel=_rel(se, rse),
        cov_rel=_rel(ours_cov, ref_cov),
        dispersion_rel=_rel([glme.Dispersion], [r["Dispersion"]]),
        names_match=names_match,
    )


def poisson_weight_constant_shift(glme, ref) -> float:
    """MATLAB's minus lme4's parameter-free constant of the weighted Poisson log-likelihood.

    lme4 uses sum w log f(y; mu); MATLAB (conditionalLogLikelihood, see docs/matlab_source_notes.md
    item 5) uses sum log f(w y; w mu). The kernels w (y log mu - mu) are identical, so the two
    log-likelihoods differ by exactly sum (w y log w - log Gamma(w y + 1)) + sum w log Gamma(y + 1),
    which does not depend on any parameter. Zero for unit weights and other distributions.
    """
    if glme.Distribution != "Poisson" or glme.FitMethod in ("MPL", "REMPL"):
        return 0.0  # the pseudo-likelihood of PL fits has no Poisson constant
    from scipy.special import gammaln, xlogy

    y, w = glme._resp.y, glme._resp.w
    matlab_const = float(np.sum(xlogy(w * y, w) - gammaln(w * y + 1)))
    lme4_const = ref["results"]["LogLikelihood_constant"]
    assert abs(lme4_const + np.sum(w * gammaln(y + 1))) < 1e-8 * abs(lme4_const)
    return matlab_const - lme4_const


def load_matlab_fixtures() -> tuple[dict, pd.DataFrame]:
    fx = json.loads((MATLAB / "fixtures_r2026a.json").read_text())
    df = pd.read_csv(MATLAB / fx["data_file"])
    return fx, df


def main() -> None:  # pragma: no cover - reporting helper
    print(f"{'case':45s} {'dLogLik':>10s} {'beta rel':>9s} {'beta/SE':>9s} {'SE rel':>9s} {'cov rel':>9s} {'disp rel':>9s}")
    for case in LME4_CASES:
        glme, ref = fit_case(case)
        d = compare(glme, ref)
        print(f"{case:45s} {d.loglik:10.2e} {d.beta_rel:9.2e} {d.beta_scaled:9.2e} {d.se_rel:9.2e} {d.cov_rel:9.2e} {d.dispersion_rel:9.2e}")
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
