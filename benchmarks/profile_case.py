"""cProfile one benchmark fit: ``python -m benchmarks.profile_case CASE METHOD [--top 25] [--memory]``.

Loads the case's data exactly as the benchmark does (benchmarks/cases.py), runs the untimed warm-up
fit, then profiles one ``fitglme`` call and prints the top functions by internal time and by
cumulative time (and saves the raw profile to benchmarks/_work/profile_CASE_METHOD.prof).

``--memory`` instead runs the fit under tracemalloc and prints the allocation sites (file:line, with
the call stack) live at the moment the traced memory peaked, plus what the fitted model retains.
A profile hook takes a snapshot whenever the traced total exceeds the previous maximum by 2%, so
the last snapshot is within 2% of the true peak (slow; use n <= 1e5).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cases import WORK_DIR, data_file, load_table, select_cases
from benchmarks.worker import _fit, warm_up


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("case", help="case name, recipe key or issue number (first match is used)")
    ap.add_argument("method")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--memory", action="store_true", help="allocation sites at the traced peak")
    a = ap.parse_args(argv)
    case = select_cases(a.case, n=a.n)[0]
    csv, source = data_file(case, a.data_dir, WORK_DIR)
    df = load_table(case, csv)
    warm_up(case, a.method)
    if a.memory:
        return memory_profile(case, df, a.method, a.top)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    glme = _fit(case, df, a.method)
    prof.disable()
    wall = time.perf_counter() - t0
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    out = WORK_DIR / f"profile_{case.name}_{a.method}.prof"
    prof.dump_stats(out)
    info = getattr(glme._result, "info", {})
    print(f"{case.name} {a.method} ({source} data, n = {case.n:,}): {wall:.3f} s under cProfile; "
          f"logLik {glme.LogLikelihood:.4f}; engine info "
          f"{ {k: v for k, v in info.items() if isinstance(v, (int, float))} }; "
          f"PL iterations {getattr(glme._result, 'pl_iterations', '?')}")
    for key in ("tottime", "cumulative"):
        s = io.StringIO()
        pstats.Stats(prof, stream=s).strip_dirs().sort_stats(key).print_stats(a.top)
        text = s.getvalue()
        print(f"\n=== top {a.top} by {key} ===")
        print(text[text.find("   ncalls"):].rstrip())
    print(f"\nraw profile: {out}")
    return 0


def memory_profile(case, df, method: str, top: int) -> int:
    import gc
    import tracemalloc

    gc.collect()
    state = {"max": 0, "snap": None}

    def hook(frame, event, arg):
        if event in ("return", "c_return"):
            cur = tracemalloc.get_traced_memory()[0]
            if cur > state["max"] * 1.02 + 65536:
                state["max"] = cur
                sys.setprofile(None)
                state["snap"] = tracemalloc.take_snapshot()
                sys.setprofile(hook)

    tracemalloc.start(8)
    base = tracemalloc.get_traced_memory()[0]
    sys.setprofile(hook)
    try:
        glme = _fit(case, df, method)
    finally:
        sys.setprofile(None)
    cur, peak = tracemalloc.get_traced_memory()
    end = tracemalloc.take_snapshot()
    tracemalloc.stop()
    mb = 2 ** 20
    print(f"{case.name} {method}: traced peak {(peak - base) / mb:.1f} MB during the fit; "
          f"retained by the model after the fit {(cur - base) / mb:.1f} MB; last snapshot at "
          f"{(state['max'] - base) / mb:.1f} MB")
    filt = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")]
    for title, snap in (("live at the peak", state["snap"]), ("retained after the fit", end)):
        if snap is None:
            continue
        print(f"\n=== {title}: top {top} allocation sites (size, count, innermost frames) ===")
        for stat in snap.filter_traces(filt).statistics("traceback")[:top]:
            frames = [f"{Path(f.filename).name}:{f.lineno}" for f in list(stat.traceback)[::-1][:5]]
            print(f"{stat.size / mb:8.2f} MB {stat.count:6d}  " + " <- ".join(frames))
    del glme
    return 0


if __name__ == "__main__":
    sys.exit(main())
