"""Record every fit's estimates during a test run, and compare two such records.

The cross-kernel check of ``.ci/run``: the compat tests run twice, under the default BLAS/numpy
kernels and under another kernel setting (``OPENBLAS_CORETYPE``, ``NPY_DISABLE_CPU_FEATURES``),
each time with ``FITGLME_RECORD_ESTIMATES=<file>`` (compat_tests/conftest.py then records the
estimates of every model fitted, keyed by test and order of fitting), and

    python -m compat_tests.estimates first.json second.json

fails if any estimate differs by more than 1e-9 between the two (docs/choices.md, "One optimum"):
fixed effects in units of their standard error, standard deviations and the dispersion relative,
correlations absolutely (they lie in [-1, 1]), the log-likelihood relative to max(1, |logL|).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

#: the agreement the fits promise across machines (docs/choices.md, "One optimum").
TOLERANCE = 1e-9


def summarize(glme) -> dict:
    """The estimates of one fitted model as plain lists."""
    r = glme._result
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
    for key in sorted(set(first) & set(second)):
        a, b = first[key], second[key]
        if len(a["beta"]) != len(b["beta"]) or len(a["sd"]) != len(b["sd"]):
            bad.append(f"{key}: different model shapes")
            continue
        for kind, d in differences(a, b).items():
            if not d <= TOLERANCE:
                bad.append(f"{key}: {kind} differs by {d:.3g}")
            if d > worst.get(kind, (-1.0, ""))[0]:
                worst[kind] = (d, key)
    print(f"{len(set(first) & set(second))} fits compared across the two kernel settings")
    for kind, (d, key) in sorted(worst.items()):
        print(f"  worst {kind}: {d:.3g} ({key})")
    for key in missing:
        bad.append(f"{key}: fitted in one run only")
    for line in bad:
        print("DIFFERS:", line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
