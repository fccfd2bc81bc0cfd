"""Many-fits benchmarks: refits, parametric bootstraps, process and Dask speedups, lme4's bootMer.

    python -m benchmarks.manyfits_bench                 # everything (lme4 with 100 replicates)
    python -m benchmarks.manyfits_bench --no-r --nboot 200

Cases (docs/many_fits.md):

1. One refit of the README's mfr-shaped model (Poisson, log, effects coding, (1|factory)), Laplace and
   MPL: the many-fits path (``fitglme.methods.manyfits``: the shared plan, no design rebuilt, start at
   the original estimates) against today's ``refit(glme, y)``; CPU time per refit of this process
   (one core) and wall time.
2. A 1,000-replicate ``parametricBootstrap`` of that model, serial and with 2 local processes (wall;
   the first parallel call starts the worker processes -- timed as ``cold`` --, then the median of
   three batches that reuse them; serial likewise the median of three).
3. lme4: ``refit`` and ``bootMer`` (parametric, new random effects) on the same model and data,
   ``--r-nsim`` replicates, one BLAS thread (benchmarks/lme4_bootmer.R); the per-replicate ratio.
4. A 1e4-row Poisson random-intercept model (benchmarks/cases.py recipe, 1,000 groups of 10), 200
   replicates: 2 local processes (cold, then three warm batches alternated with three serial ones),
   and two 2-worker, 1-thread-per-worker Dask LocalClusters started here, one with the settings
   docs/many_fits.md recommends for fits (``DASK_FOR_FITS``: the worker profiler off), one with
   Dask's defaults (each: start-up and a 4-replicate warm-up not timed, the scatter of the plan
   timed; three batches alternated with three serial ones). Speedups are ratios of the medians of
   the alternated batches.
5. Memory: the traced (tracemalloc) peak of one full fit of model 4 against that of a worker's chunk
   of 50 replicates, the plan unpickled in the same traced region.

Timings on a shared machine are noisy: the load average is recorded with every figure, and the
comparison with lme4 is a ratio measured in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.cases import BENCH_DIR, REPO_ROOT, WORK_DIR, gen_poisson_ri

MFR_FORMULA = "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)"


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _mfr_model(method: str):
    from fitglme import fitglme, load_example

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fitglme(load_example(), MFR_FORMULA, "Distribution", "Poisson", "Link", "log", "FitMethod", method,
                       "DummyVarCoding", "effects")


def bench_refit(method: str, k: int = 60) -> dict:
    """Per-refit CPU and wall time: the many-fits path against refit(glme, y)."""
    from fitglme import random, refit
    from fitglme.methods.manyfits import make_plan, run_replicate

    glme = _mfr_model(method)
    ys = [random(glme, seed=i) for i in range(k)]
    t0 = time.perf_counter()
    plan = make_plan(glme)
    t_plan = time.perf_counter() - t0
    for y in ys[:3]:  # warm-up
        run_replicate(plan, y, False)
    c0, w0 = time.process_time(), time.perf_counter()
    for y in ys:
        run_replicate(plan, y, False)
    cpu, wall = (time.process_time() - c0) / k, (time.perf_counter() - w0) / k
    kk = max(10, k // 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c0, w0 = time.process_time(), time.perf_counter()
        for y in ys[:kk]:
            refit(glme, y)
        cpu_full, wall_full = (time.process_time() - c0) / kk, (time.perf_counter() - w0) / kk
    return {"method": method, "refits": k, "plan_seconds": t_plan, "cpu_ms": 1e3 * cpu, "wall_ms": 1e3 * wall,
            "full_refit_cpu_ms": 1e3 * cpu_full, "full_refit_wall_ms": 1e3 * wall_full,
            "fast_path": plan.hessian is not None, "load": _load()}


def _boot_wall(glme, nboot: int, opts) -> tuple[float, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        bs = glme.parametricBootstrap(nboot, "Seed", 1, "Options", opts)
        return time.perf_counter() - t0, bs


def _median_wall(glme, nboot: int, opts, runs: int = 3) -> tuple[float, object]:
    """Median wall time of ``runs`` identical batches (the steady state: pools already started)."""
    times, bs = [], None
    for _ in range(runs):
        t, bs = _boot_wall(glme, nboot, opts)
        times.append(t)
    return float(np.median(times)), bs


def _shutdown_loky() -> None:
    try:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    except ImportError:
        pass


def bench_bootstrap_mfr(nboot: int) -> dict:
    from fitglme import statset

    glme = _mfr_model("Laplace")
    serial, bs1 = _median_wall(glme, nboot, statset("Display", "off"))
    opts = statset("UseParallel", True, "NumWorkers", 2, "Display", "off")
    cold, _ = _boot_wall(glme, nboot, opts)  # (includes starting the 2 worker processes)
    par, bs2 = _median_wall(glme, nboot, opts)  # the pool is reused: the steady state
    _shutdown_loky()
    return {"nboot": nboot, "serial_s": serial, "two_processes_cold_s": cold, "two_processes_s": par,
            "identical": bool(bs1.Replicates.equals(bs2.Replicates)), "failed": bs1.NumFailed,
            "converged": int(bs1.Replicates["Converged"].sum()), "load": _load()}


#: the Dask settings docs/many_fits.md recommends for a cluster that runs fits ("A Dask cluster"):
#: the worker's statistical profiler off (it samples every task thread's stack every 10 ms)
DASK_FOR_FITS = {"distributed.worker.profile.enabled": False}


def _alternate(glme, nboot: int, opts_a, opts_b, rounds: int = 3) -> tuple[list, list, object, object]:
    """Wall times of ``rounds`` batches of A and B, alternated (A, B, A, B, ...) so that a change of
    the machine's load falls on both."""
    ta, tb, bs_a, bs_b = [], [], None, None
    for _ in range(rounds):
        t, bs_a = _boot_wall(glme, nboot, opts_a)
        ta.append(t)
        t, bs_b = _boot_wall(glme, nboot, opts_b)
        tb.append(t)
    return ta, tb, bs_a, bs_b


def _worker_state() -> dict:
    """(Run in a Dask worker) its BLAS thread counts, trim threshold and profiler state."""
    import dask
    from threadpoolctl import threadpool_info

    return {"blas_threads": [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"],
            "MALLOC_TRIM_THRESHOLD_": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
            "profile": bool(dask.config.get("distributed.worker.profile.enabled"))}


def bench_dask(glme, nboot: int, serial_opts, config: dict) -> dict:
    """A 2-worker, 1-thread-per-worker Dask LocalCluster (processes) with ``config``; its start-up
    and a 4-replicate warm-up are not timed; batches alternated with serial ones."""
    import dask
    from dask.distributed import Client, LocalCluster
    from fitglme import statset

    with dask.config.set(config), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            Client(cl) as client:
        client.wait_for_workers(2)
        opts = statset("UseParallel", True, "Client", client, "Display", "off")
        _boot_wall(glme, 4, opts)  # warm-up
        ser, dk, bs_s, bs_d = _alternate(glme, nboot, serial_opts, opts)
        workers = list(client.run(_worker_state).values())
    return {"config": config, "serial_s": float(np.median(ser)), "dask_s": float(np.median(dk)),
            "speedup": float(np.median(ser) / np.median(dk)), "serial_all": ser, "dask_all": dk,
            "identical": bool(bs_s.Replicates.equals(bs_d.Replicates)), "workers": workers, "load": _load()}


def bench_poisson_1e4(nboot: int, dask: bool) -> dict:
    from fitglme import fitglme, statset

    tbl = gen_poisson_ri(10_000, seed=20240)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glme = fitglme(tbl, "y ~ 1 + x + (1|g)", "Distribution", "Poisson", "FitMethod", "Laplace")
    out = {"n": len(tbl), "groups": int(tbl["g"].nunique()), "nboot": nboot}
    serial = statset("Display", "off")
    opts = statset("UseParallel", True, "NumWorkers", 2, "Display", "off")
    out["two_processes_cold_s"], _ = _boot_wall(glme, nboot, opts)  # (starts the workers)
    ser, par, bs1, bs2 = _alternate(glme, nboot, serial, opts)
    out["serial_s"], out["two_processes_s"] = float(np.median(ser)), float(np.median(par))
    out["serial_all"], out["two_processes_all"] = ser, par
    out["load_processes"] = _load()
    _shutdown_loky()
    out["speedup_processes"] = out["serial_s"] / out["two_processes_s"]
    out["identical_processes"] = bool(bs1.Replicates.equals(bs2.Replicates))
    if dask:
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            out["dask"] = "not installed"
        else:
            # the recommended settings, then Dask's defaults (each against serial batches of its own)
            out["dask"] = bench_dask(glme, nboot, serial, DASK_FOR_FITS)
            out["dask_defaults"] = bench_dask(glme, nboot, serial, {})
            out["speedup_dask"] = out["dask"]["speedup"]
            out["speedup_dask_defaults"] = out["dask_defaults"]["speedup"]
            out["identical_dask"] = out["dask"]["identical"] and out["dask_defaults"]["identical"]
    out.update(bench_memory(glme))
    return out


def bench_memory(glme, chunk: int = 50) -> dict:
    """Traced peak of one full fit against a worker's chunk (plan unpickled inside the region)."""
    from fitglme import fitglme
    from fitglme.random_streams import child_seeds, seed_sequence
    from fitglme.methods.manyfits import bootstrap_task, make_plan

    req = glme._request
    blob = pickle.dumps(make_plan(glme))
    seeds = list(zip(range(chunk), child_seeds(seed_sequence(3, "bench"), chunk)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracemalloc.start()
        fitglme(req.table, req.formula_text, **req.options)
        fit_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        tracemalloc.start()
        plan = pickle.loads(blob)
        bootstrap_task(plan, seeds)
        worker_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {"fit_peak_mb": fit_peak / 2**20, "worker_peak_mb": worker_peak / 2**20,
            "worker_over_fit": worker_peak / fit_peak, "plan_mb": len(blob) / 2**20}


def bench_lme4(nsim: int) -> dict:
    if shutil.which("Rscript") is None:
        return {"skipped": "Rscript not found"}
    out_json = WORK_DIR / "lme4_bootmer.json"
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    cmd = ["Rscript", str(BENCH_DIR / "lme4_bootmer.R"), f"csv={REPO_ROOT / 'fitglme' / 'data' / 'mfr_sim.csv'}",
           f"nsim={nsim}", "seed=1", f"out={out_json}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"skipped": f"Rscript failed: {proc.stderr[-400:]}"}
    res = json.loads(out_json.read_text())
    res["wall_s"] = time.perf_counter() - t0
    res["load"] = _load()
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nboot", type=int, default=1000, help="replicates of the mfr bootstrap (1000)")
    ap.add_argument("--nboot-1e4", type=int, default=200, help="replicates of the 1e4-row model (200)")
    ap.add_argument("--r-nsim", type=int, default=100, help="bootMer replicates (100)")
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--out", default=str(WORK_DIR / "manyfits.json"))
    a = ap.parse_args(argv)
    res: dict = {"cpus": os.cpu_count(), "load_start": _load()}
    res["refit"] = [bench_refit("Laplace"), bench_refit("MPL")]
    print(json.dumps(res["refit"], indent=1))
    res["bootstrap_mfr"] = bench_bootstrap_mfr(a.nboot)
    print(json.dumps(res["bootstrap_mfr"], indent=1))
    if not a.no_r:
        res["lme4"] = bench_lme4(a.r_nsim)
        lm = res["lme4"]
        if "bootmer_seconds" in lm:
            per_r = lm["bootmer_seconds"] / lm["nsim"]
            b = res["bootstrap_mfr"]
            res["ratio_vs_bootmer"] = {"serial": per_r / (b["serial_s"] / b["nboot"]),
                                       "two_processes": per_r / (b["two_processes_s"] / b["nboot"]),
                                       "refit": lm["refit_seconds"] / (res["refit"][0]["wall_ms"] / 1e3)}
        print(json.dumps({k: v for k, v in lm.items() if k != "estimates"}, indent=1))
        print(json.dumps(res.get("ratio_vs_bootmer"), indent=1))
    res["poisson_1e4"] = bench_poisson_1e4(a.nboot_1e4, not a.no_dask)
    print(json.dumps(res["poisson_1e4"], indent=1))
    res["load_end"] = _load()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1, default=str))
    print("written", a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
