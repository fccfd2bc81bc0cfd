"""One timed fitglme fit, normally in a fresh process (``python -m benchmarks.worker ...``).

The process imports fitglme, reads the CSV and makes the grouping columns categorical, runs one
small untimed warm-up fit of the same model (n = 2,000 rows of the same recipe, so that first-call
costs -- lazy imports, LAPACK symbol lookup -- are not billed to the timed fit, as R's median of
repeats in one session does not bill them either), and then times the ``fitglme(...)`` call only.

Memory, measured around the timed fit only (data already loaded):
* ``rss_peak_bytes``: Linux peak resident set size during the fit minus the resident size just
  before it.  The kernel's high-water mark (VmHWM) is reset first by writing 5 to
  /proc/self/clear_refs; where that is not possible, ru_maxrss minus the resident size before the
  fit is used (an underestimate if the process had peaked higher earlier).
* ``traced_peak_bytes`` (``--trace`` runs only, never timed): tracemalloc's peak of memory
  allocated during the fit.  numpy reports its data buffers to tracemalloc, so this counts every
  numpy/scipy array plus Python objects, but not LAPACK/BLAS internal workspaces.
* ``budget_bytes``: the size the memory target of docs/performance.md refers to: the numeric data arrays of the
  model (y, X, and per random term its n x q_k covariates and n level indices, 8 bytes each) plus the
  random-effect blocks (m_k q_k x q_k per term, 8 bytes each).  Target: peak <= 3 x budget.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.cases import Case, categorize, gen_binary_crossed, load_table, make_case

WARMUP_N = 2000


# ----------------------------------------------------------------------------------- memory
def proc_status() -> dict[str, int]:
    """VmRSS / VmHWM of this process in bytes ({} off Linux)."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, val = line.split(":", 1)
                    out[key] = int(val.split()[0]) * 1024
    except OSError:
        pass
    return out


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _maxrss_bytes() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r) * (1 if sys.platform == "darwin" else 1024)


def sources_md5() -> str:
    """md5 of the imported fitglme package's .py files (other people may edit it during a run)."""
    import hashlib

    import fitglme

    root = Path(fitglme.__file__).resolve().parent
    h = hashlib.md5()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


# ----------------------------------------------------------------------------------- results
def re_key(group: str, kind: str, n1: str, n2: str | None = None) -> str:
    """Label of a covariance parameter, the same on both sides: 'g:std:x', 'g:corr:(Intercept):x'
    (correlation names sorted), 'Error:std' for sqrt(dispersion) / the residual std."""
    if kind == "std":
        return f"{group}:std:{n1}"
    a, b = sorted([n1, n2])
    return f"{group}:corr:{a}:{b}"


def extract(glme) -> dict:
    """logLik, fixed effects, covariance parameters (std/corr), dispersion of a fitted model."""
    beta = {str(n): float(v) for n, v in zip(glme.CoefficientNames, np.asarray(glme._result.beta, float))}
    se = np.sqrt(np.diag(np.asarray(glme.CoefficientCovariance, float)))
    re: dict[str, float] = {}
    for group, _m, names1, names2, types, est, _pat in glme._covariance_rows():
        for n1, n2, t, v in zip(names1, names2, types, np.asarray(est, float)):
            re[re_key(str(group), "std" if t == "std" else "corr", str(n1), str(n2))] = float(v)
    if glme.DispersionEstimated:
        re["Error:std"] = float(np.sqrt(glme.Dispersion))
    info = {k: (v if isinstance(v, (int, float, str, bool)) else None)
            for k, v in getattr(glme._result, "info", {}).items()
            if isinstance(v, (int, float, str, bool, np.integer, np.floating))}
    return {
        "loglik": float(glme.LogLikelihood),
        "beta": beta,
        "se": {k: float(s) for k, s in zip(beta, se)},
        "re": re,
        "dispersion": float(glme.Dispersion),
        "converged": bool(getattr(glme._result, "converged", True)),
        "pl_iterations": int(getattr(glme._result, "pl_iterations", 0) or 0),
        "engine_info": info,
    }


def budget_bytes(glme) -> dict:
    """Numeric data arrays (y, X, Z_k, level indices) and random-effect blocks, 8 bytes per number."""
    n = int(glme.NumObservations)
    p = int(glme.NumCoefficients)
    data = n * (1 + p)
    blocks = 0
    for blk in glme._design.re_blocks:
        q = int(np.asarray(blk.Z).shape[1])
        data += n * (q + 1)
        blocks += int(blk.nlevels) * q * q
    return {"data_bytes": 8 * data, "blocks_bytes": 8 * blocks, "budget_bytes": 8 * (data + blocks)}


# ----------------------------------------------------------------------------------- fitting
def _fit(case: Case, df, method: str):
    from fitglme import fitglme

    return fitglme(df, case.formula, **case.fit_options(method))


def warm_up(case: Case, method: str) -> None:
    """An untimed fit of the same model on 2,000 rows of the same recipe (errors ignored)."""
    if case.key == "binary_crossed":
        small = gen_binary_crossed(WARMUP_N, 99, L1=200, L2=20)
    else:
        small = make_case(case.key, WARMUP_N).recipe(WARMUP_N, 99)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _fit(case, categorize(case, small), method)
    except Exception:  # noqa: BLE001 - a warm-up failure must not stop the benchmark
        pass


def fit_record(case: Case, df, method: str, *, trace: bool = False) -> dict:
    """Fit once; wall time of the fitglme call, memory, estimates."""
    gc.collect()
    was_reset = reset_peak_rss()
    rss0 = proc_status().get("VmRSS", 0)
    if trace:
        tracemalloc.start()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        glme = _fit(case, df, method)
        t1 = time.perf_counter()
    traced = None
    if trace:
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    st = proc_status()
    if was_reset and "VmHWM" in st:
        rss_peak, rss_how = st["VmHWM"] - rss0, "VmHWM after clear_refs"
    else:
        rss_peak, rss_how = max(_maxrss_bytes() - rss0, 0), "ru_maxrss - RSS before fit"
    rec = {
        "case": case.name, "method": method, "n": int(glme.NumObservations),
        "time": t1 - t0, "traced": trace,
        "rss_peak_bytes": int(rss_peak), "rss_method": rss_how,
        "traced_peak_bytes": None if traced is None else int(traced),
        "warnings": [str(w.message)[:300] for w in caught],
    }
    rec["fitglme_sources_md5"] = sources_md5()
    rec.update(budget_bytes(glme))
    rec.update(extract(glme))
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="one timed fitglme fit (used by benchmarks.run)")
    ap.add_argument("--key", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--method", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--trace", action="store_true", help="measure with tracemalloc (slower; not for timing)")
    ap.add_argument("--no-warmup", action="store_true")
    a = ap.parse_args(argv)
    import fitglme  # noqa: F401  (imports are not timed)

    case = make_case(a.key, a.n)
    df = load_table(case, Path(a.csv))
    if not a.no_warmup:
        warm_up(case, a.method)
    rec = fit_record(case, df, a.method, trace=a.trace)
    rec["pid"] = os.getpid()
    Path(a.out).write_text(json.dumps(rec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
