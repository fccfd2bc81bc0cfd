"""Record every fit's estimates during a test run, and compare two such records.

The cross-kernel check of ``.ci/run``: the compat tests run twice, under the default BLAS/numpy
kernels and under another kernel setting (``OPENBLAS_CORETYPE``, ``NPY_DISABLE_CPU_FEATURES``),
each time with ``FITGLME_RECORD_ESTIMATES=<file>`` (compat_tests/conftest.py then records the
estimates of every model fitted, keyed by test and order of fitting), and

    python -m compat_tests.estimates first.json second.json

compares them: fixed effects in units of their standard error, standard deviations and the
dispersion relative, correlations absolutely (they lie in [-1, 1]), the log-likelihood relative to
max(1, |logL|).

The check fails above 1e-9 (docs/choices.md, "One optimum"), with one documented exception
(``PL_STOP`` below). Measured on 2026-12-02 (AMD EPYC without AVX-512: OpenBLAS Haswell kernels and
numpy's AVX2 dispatch by default), after the LME's final solution got its refinement step from the
rows (fitglme/engine/lme.py, ``final_state``), against OpenBLAS Sandybridge (the same figures with
numpy's X86_V3 dispatch disabled too): 110 of the 111 fits agree to 1e-9 (the CI run of 3b0b27a:
worst beta/SE 3.2e-11, sd 1.9e-10, corr 8.9e-11, dispersion 2.0e-11); Results_rt_link_rt_a360ccc's
log-likelihood is 1.88e-9 apart (PL_STOP). Before that step, five kbstat MPL Gamma fits (dispersion
~2e-6, intercept t = 613) differed by 1.6e-9 SE.

Fits with a flat direction are compared by their log-likelihood only: the kbstat models that are not
identifiable (compat_tests/test_kbstat.py, NOT_IDENTIFIABLE: their covariance parameters move by up to
2e-4 between kernels, as MATLAB's own runs move) and those whose covariance is singular (a Cholesky
diagonal at 0 or 1e-6, along which the likelihood is flat to ~1e-12).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

#: the agreement the fits must reach across machines (docs/choices.md, "One optimum")
TARGET = 1e-9
BOUND = TARGET
#: Fits whose pseudo-likelihood iterations stop by MATLAB's rule (max|d eta| <= PLTolerance
#: max(max|eta|, 1)) at an iteration that depends on rounding, with their own bound on the
#: log-likelihood.  Results_rt_link_rt_a360ccc is singular: its 4 x 4 covariance has rank 2, and the
#: PL fixed point sits where the inner LME's optimum switches between the boundary (the third Cholesky
#: diagonal at 0) and the interior (that diagonal up to 8e-3): every inner fit is pinned by its
#: gradient, but from one PL iteration to the next the diagonal jumps between 0 and up to 8e-3, so the
#: iterations do not contract smoothly.  Measured 2026-12-02: PLTolerance met after 21 iterations under
#: the default kernel and 30 under OpenBLAS Sandybridge, log-likelihoods 1.88e-9 apart (relative; the
#: earlier AVX-512 machines: 22 against 21, 2.5e-9).  Trying the small diagonal at 0 after each polish
#: (kept when the objective there is within 1e-12) left 21 against 35 iterations, 4.8e-10 apart: no
#: pinning, so not adopted.  PLTolerance (1e-8) bounds it.
PL_STOP = {"Results_rt_link_rt_a360ccc": 1e-8}
#: fits with a flat direction (module docstring): compared by their log-likelihood only
SINGULAR = {"Results_rt_link_rt_a360ccc", "Results_rt_transform_rt_9456abc"}


def _flat(key: str) -> bool:
    from .test_kbstat import NOT_IDENTIFIABLE

    return any(f"[{name}]" in key for name in set(NOT_IDENTIFIABLE) | SINGULAR)


def summarize(glme) -> dict:
    """The estimates of one fitted model as plain lists."""
    r = glme.fit_state.result
    se = np.sqrt(np.maximum(np.diag(r.cov_beta), 0.0))
    sds, corrs = [], []
    for psi in r.psi:
        sd = np.sqrt(np.maximum(np.diag(psi), 0.0))
        sds.extend(sd.tolist())
        with np.errstate(invalid="ignore", divide="ignore"):
            c = psi / np.outer(sd, sd)
        iu = np.triu_indices(len(sd), 1)
        corrs.extend(np.nan_to_num(c[iu]).tolist())
    return {"beta": np.asarray(r.beta).tolist(), "se": se.tolist(), "sd": sds, "corr": corrs,
            "dispersion": float(r.dispersion), "loglik": float(r.loglik)}


def differences(a: dict, b: dict) -> dict[str, float]:
    """Worst difference per kind of estimate between two summaries of the same fit."""
    ba, bb, se = (np.asarray(a[k], float) for k in ("beta", "beta", "se"))
    bb = np.asarray(b["beta"], float)
    out = {}
    scale = np.where(se > 0, se, np.maximum(np.abs(ba), 1.0))
    out["beta/SE"] = float(np.max(np.abs(ba - bb) / scale, initial=0.0))
    sa, sb = np.asarray(a["sd"], float), np.asarray(b["sd"], float)
    den = np.maximum(np.abs(sa), np.abs(sb))
    out["sd rel"] = float(np.max(np.where(den > 0, np.abs(sa - sb) / np.where(den > 0, den, 1.0), 0.0), initial=0.0))
    out["corr abs"] = float(np.max(np.abs(np.asarray(a["corr"]) - np.asarray(b["corr"])), initial=0.0))
    da, db = a["dispersion"], b["dispersion"]
    out["dispersion rel"] = abs(da - db) / max(abs(da), abs(db), 1e-300)
    out["loglik rel"] = abs(a["loglik"] - b["loglik"]) / max(1.0, abs(a["loglik"]))
    return out


def main(argv: list[str]) -> int:
    first, second = (json.loads(Path(p).read_text()) for p in argv[:2])
    missing = sorted(set(first) ^ set(second))
    worst: dict[str, tuple[float, str]] = {}
    bad = []
    above = []
    for key in sorted(set(first) & set(second)):
        a, b = first[key], second[key]
        if len(a["beta"]) != len(b["beta"]) or len(a["sd"]) != len(b["sd"]):
            bad.append(f"{key}: different model shapes")
            continue
        diffs = differences(a, b)
        if _flat(key):
            diffs = {"loglik rel": diffs["loglik rel"]}
        bound = next((b for name, b in PL_STOP.items() if f"[{name}]" in key), BOUND)
        for kind, d in diffs.items():
            if not d <= bound:
                bad.append(f"{key}: {kind} differs by {d:.3g}")
            elif d > TARGET:
                above.append(f"{key}: {kind} differs by {d:.3g} (its own bound {bound:g}: PL_STOP)")
            if d > worst.get(kind, (-1.0, ""))[0]:
                worst[kind] = (d, key)
    print(f"{len(set(first) & set(second))} fits compared across the two kernel settings "
          f"(bound {BOUND:g}, PL_STOP fits {sorted(set(PL_STOP.values()))}; flat fits by log-likelihood only)")
    for kind, (d, key) in sorted(worst.items()):
        print(f"  worst {kind}: {d:.3g} ({key})")
    for line in above:
        print("above the target:", line)
    for key in missing:
        bad.append(f"{key}: fitted in one run only")
    for line in bad:
        print("DIFFERS:", line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
