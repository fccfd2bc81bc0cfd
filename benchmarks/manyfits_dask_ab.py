"""Many-fits speedups on a shared machine: serial, 2 processes and Dask settings in alternation.

    python -m benchmarks.manyfits_dask_ab --rounds 8

The 1e4-row Poisson random-intercept model of benchmarks/manyfits_bench.py (case 4), 200
replicates per batch. One loky pool (2 processes) and one 2-worker, 1-thread-per-worker Dask
LocalCluster (processes) are started once; then every round runs one batch of each arm in turn:

* ``serial``;
* ``processes``: ``statset('UseParallel', true, 'NumWorkers', 2)`` (joblib's loky);
* ``dask_before``: Dask's defaults (worker profiler on) with the per-chunk trim relaxation of
  fitglme/allocator.py switched off in the workers (the library before it);
* ``dask_defaults``: Dask's defaults, the library as it is;
* ``dask_for_fits``: the worker profiler off (docs/many_fits.md, "A Dask cluster").

The profiler is switched by stopping / starting the worker's ``profile`` periodic callback (what
``distributed.worker.profile.enabled: False`` leaves out; on Python 3.11 it is the only sampler).
Each arm's speedup is the median over rounds of serial / arm within the round, so a change of the
machine's load falls on every arm alike. The load average is recorded per round.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.cases import WORK_DIR, gen_poisson_ri

ARMS = ("serial", "processes", "dask_before", "dask_defaults", "dask_for_fits")


def _set_worker(dask_worker, profile: bool, relax: bool) -> bool:
    """(In a Dask worker) the profiler sampling on or off; fitglme's trim relaxation on or off."""
    from fitglme import allocator

    pc = dask_worker.periodic_callbacks.get("profile")
    if pc is not None:
        (pc.start if profile else pc.stop)()
    if not hasattr(allocator, "_bench_started"):
        allocator._bench_started = allocator._started_threshold
    allocator._started_threshold = allocator._bench_started if relax else (lambda: None)
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--nboot", type=int, default=200)
    ap.add_argument("--out", default=str(WORK_DIR / "manyfits_dask_ab.json"))
    a = ap.parse_args(argv)
    from dask.distributed import Client, LocalCluster
    from joblib.externals.loky import get_reusable_executor
    from fitglme import fitglme, statset

    tbl = gen_poisson_ri(10_000, seed=20240)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glme = fitglme(tbl, "y ~ 1 + x + (1|g)", "Distribution", "Poisson", "FitMethod", "Laplace")

    def batch(opts) -> tuple[float, object]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            bs = glme.parametricBootstrap(a.nboot, "Seed", 1, "Options", opts)
            return time.perf_counter() - t0, bs

    times = {arm: [] for arm in ARMS}
    loads, identical = [], True
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            Client(cl) as client:
        client.wait_for_workers(2)
        procs = statset("UseParallel", True, "NumWorkers", 2, "Display", "off")
        on_dask = statset("UseParallel", True, "Client", client, "Display", "off")
        settings = {"dask_before": (True, False), "dask_defaults": (True, True), "dask_for_fits": (False, True)}
        batch(procs), batch(on_dask)  # (start the processes; warm the Dask workers up)
        ref = None
        for _ in range(a.rounds):
            for arm in ARMS:
                if arm in settings:
                    client.run(_set_worker, profile=settings[arm][0], relax=settings[arm][1])
                t, bs = batch(statset("Display", "off") if arm == "serial" else procs if arm == "processes"
                              else on_dask)
                times[arm].append(t)
                ref = bs.Replicates if ref is None else ref
                identical &= bool(ref.equals(bs.Replicates))
            loads.append(round(os.getloadavg()[0], 2))
            print(loads[-1], {k: round(v[-1], 3) for k, v in times.items()}, flush=True)
    get_reusable_executor().shutdown(wait=True)
    ser = np.array(times["serial"])
    res = {"rounds": a.rounds, "nboot": a.nboot, "loads": loads, "times": times, "identical": identical,
           "median_s": {k: float(np.median(v)) for k, v in times.items()},
           "speedup": {k: float(np.median(ser / np.array(v))) for k, v in times.items() if k != "serial"}}
    print(json.dumps({k: res[k] for k in ("loads", "median_s", "speedup", "identical")}, indent=1))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
