"""fitglme benchmarks against lme4: ``python -m benchmarks`` or ``python benchmarks/run.py``.

For every case (see benchmarks/cases.py) and FitMethod: ``--repeats`` timed fits, each in a fresh
Python process (benchmarks/worker.py: imports, CSV reading and a small warm-up fit are not timed),
one more untimed process under tracemalloc for the traced memory peak, then -- when ``Rscript`` with
lme4 is available -- one R process per case (benchmarks/lme4_bench.R) fitting the matching lme4 /
MASS models ``--repeats`` times on the same CSV.  Writes ``RESULTS.md`` and ``results.json`` (to
``benchmarks/`` for a full run of all cases, else to ``benchmarks/_work/``; ``--out-dir`` decides).

Examples::

    python -m benchmarks                          # everything (~15 min, mostly lme4)
    python -m benchmarks --smoke                  # smallest case, Laplace, 1 repeat, no R
    python -m benchmarks --cases 1 --no-r         # case 1 (all three sizes), fitglme only
    python -m benchmarks --cases poisson_ri_n1e6 --skip-r poisson_ri_n1e6:Laplace
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cases import (BENCH_DIR, DEFAULT_DATA_DIR, R_METHOD_LABEL, REPO_ROOT, WORK_DIR, Case,
                              data_file, load_table, md5sum, select_cases)
from benchmarks.worker import re_key

R_SCRIPT = BENCH_DIR / "lme4_bench.R"
SMOKE_CASE = "binary_crossed_n7584_316x24"  # the smallest benchmark case (7,584 rows)
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_MAIN_FREE")

# Targets of the performance issue.
TARGET_RATIO = 3.0
TARGET_ABS = {("poisson_ri_n1e6", "Laplace"): 5.0, ("binary_crossed_n7584_316x24", "Laplace"): 1.0}
TARGET_SCALING = ("poisson_ri_n1e5", "poisson_ri_n1e6", 11.0)
TARGET_MEMORY = 3.0
SAME_BETA_TOL = 1e-3  # default-tolerance optimisers agree to ~1e-4 (bench_data README)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------- environment
def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30).stdout
    except Exception:  # noqa: BLE001
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _blas_info() -> str:
    try:
        import numpy as np

        cfg = np.show_config(mode="dicts")
        b = cfg.get("Build Dependencies", {}).get("blas", {})
        return f"{b.get('name', '?')} {b.get('version', '')}".strip()
    except Exception:  # noqa: BLE001
        return "?"


def _threadpools() -> list[dict]:
    """BLAS/OpenMP thread pools as threadpoolctl sees them in this process (if installed)."""
    try:
        import numpy  # noqa: F401  (load the BLAS first)
        from threadpoolctl import threadpool_info

        return [{k: d.get(k) for k in ("user_api", "internal_api", "num_threads", "version")} for d in threadpool_info()]
    except Exception:  # noqa: BLE001
        return []


def environment() -> dict:
    import numpy
    import pandas
    import scipy

    la = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host_cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__, "scipy": scipy.__version__, "pandas": pandas.__version__,
        "blas": _blas_info(),
        "thread_env": {k: os.environ.get(k, "unset") for k in THREAD_VARS},
        "threadpools": _threadpools(),
        "loadavg_start": la,
        "git_commit": _git("rev-parse", "--short", "HEAD").strip(),
        "git_dirty_package_files": [l[3:] for l in _git("status", "--porcelain", "fitglme").splitlines()],
        "command": "python -m benchmarks " + " ".join(sys.argv[1:]),
    }


def r_available() -> tuple[bool, str]:
    if shutil.which("Rscript") is None:
        return False, "Rscript not found"
    try:
        p = subprocess.run(["Rscript", "-e", "quit(status = !all(sapply(c('lme4','MASS','jsonlite'), "
                            "requireNamespace, quietly = TRUE)))"], capture_output=True, timeout=120)
    except Exception as e:  # noqa: BLE001
        return False, f"Rscript failed: {e}"
    return (p.returncode == 0), ("" if p.returncode == 0 else "R packages lme4/MASS/jsonlite missing")


# ----------------------------------------------------------------------------------- our fits
def _child_env(blas_threads: int | None = None) -> dict:
    env = os.environ.copy()
    if blas_threads:
        for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[k] = str(blas_threads)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def run_worker(case: Case, csv: Path, method: str, *, trace: bool, warmup: bool, timeout: float,
               blas_threads: int | None = None, work_dir: Path = WORK_DIR) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False, dir=work_dir) as tf:
        out = Path(tf.name)
    cmd = [sys.executable, "-m", "benchmarks.worker", "--key", case.key, "--n", str(case.n), "--csv", str(csv),
           "--method", method, "--out", str(out)]
    if trace:
        cmd.append("--trace")
    if not warmup:
        cmd.append("--no-warmup")
    try:
        p = subprocess.run(cmd, cwd=REPO_ROOT, env=_child_env(blas_threads), capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"worker failed ({case.name} {method}):\n{p.stderr[-3000:]}")
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def run_in_process(case: Case, csv: Path, method: str, *, trace: bool, warmup: bool) -> dict:
    from benchmarks import worker

    df = load_table(case, csv)
    if warmup:
        worker.warm_up(case, method)
    return worker.fit_record(case, df, method, trace=trace)


def bench_ours(case: Case, csv: Path, method: str, args) -> dict:
    runs = []
    for r in range(args.repeats):
        if args.in_process:
            rec = run_in_process(case, csv, method, trace=False, warmup=not args.no_warmup)
        else:
            rec = run_worker(case, csv, method, trace=False, warmup=not args.no_warmup, timeout=args.timeout,
                                 blas_threads=args.blas_threads, work_dir=args.work_dir)
        log(f"  fitglme {case.name} {method} repeat {r + 1}: {rec['time']:.3f} s")
        runs.append(rec)
    traced = None
    if not args.no_trace:
        if args.in_process:
            tr = run_in_process(case, csv, method, trace=True, warmup=False)
        else:
            tr = run_worker(case, csv, method, trace=True, warmup=not args.no_warmup, timeout=args.timeout,
                                blas_threads=args.blas_threads, work_dir=args.work_dir)
        traced = tr["traced_peak_bytes"]
        log(f"  fitglme {case.name} {method} traced peak {traced / 2**20:.1f} MB")
    first = runs[0]
    times = [r["time"] for r in runs]
    return {
        "times": times,
        "median": statistics.median(times),
        "rss_peak_bytes": max(r["rss_peak_bytes"] for r in runs),
        "rss_method": first["rss_method"],
        "traced_peak_bytes": traced,
        "data_bytes": first["data_bytes"], "blocks_bytes": first["blocks_bytes"],
        "budget_bytes": first["budget_bytes"],
        "loglik": first["loglik"],
        "loglik_spread": max(r["loglik"] for r in runs) - min(r["loglik"] for r in runs),
        "beta": first["beta"], "se": first["se"], "re": first["re"],
        "dispersion": first["dispersion"], "converged": first["converged"],
        "pl_iterations": first["pl_iterations"], "engine_info": first["engine_info"],
        "warnings": sorted({w for r in runs for w in r["warnings"]}),
        "fitglme_sources_md5": sorted({r.get("fitglme_sources_md5", "?") for r in runs}),
    }


# ----------------------------------------------------------------------------------- lme4
def bench_r(case: Case, csv: Path, methods: list[str], args) -> dict:
    """{fitglme method: R record} for the methods not skipped."""
    todo = {m: case.r_method(m) for m in methods if f"{case.name}:{m}" not in args.skip_r}
    if not todo:
        return {}
    out = args.work_dir / f"lme4_{case.name}.json"
    cmd = ["Rscript", str(R_SCRIPT), f"csv={csv}", f"formula={case.r_formula}", f"family={case.r_family}",
           f"methods={','.join(todo.values())}", f"groups={','.join(case.groups)}",
           f"factors={','.join(case.factors)}", f"repeats={args.r_repeats or args.repeats}", f"out={out}"]
    if case.pql_fixed:
        cmd += [f"pql_fixed={case.pql_fixed}", f"pql_random={case.pql_random}"]
        if case.pql_opt:
            cmd.append(f"pql_opt={case.pql_opt}")
    log(f"  lme4: {' '.join(todo.values())} on {case.name}")
    t0 = time.time()
    with open(args.work_dir / f"lme4_{case.name}.log", "w") as errlog:
        p = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=errlog, stderr=subprocess.PIPE, text=True)
        for line in p.stderr:  # progress lines from the R script
            errlog.write(line)
            log("  R: " + line.rstrip())
        p.wait(timeout=args.timeout)
    if p.returncode != 0:
        log(f"  lme4 run failed (exit {p.returncode}); see {args.work_dir / f'lme4_{case.name}.log'}")
        if not out.is_file():
            return {}
    log(f"  lme4 done in {time.time() - t0:.0f} s")
    res = json.loads(out.read_text())
    meta = {k: v for k, v in res.items() if k != "results"}
    got = {}
    for m, rm in todo.items():
        r = res["results"].get(rm)
        if r is None:
            continue
        if r.get("error") and r.get("median") is None:
            got[m] = {"method": rm, "label": R_METHOD_LABEL[rm], "times": r.get("times", []), "median": None,
                      "error": r["error"], "loglik": None, "beta": {}, "se": {}, "re": {}, "warnings": [],
                      "meta": meta}
            continue
        re = {}
        for row in r["re"]:
            kind = row["type"]
            re[re_key(row["grp"], kind, row["var1"], row["var2"] or None)] = row["value"]
        got[m] = {
            "method": rm, "label": R_METHOD_LABEL[rm], "times": r["times"], "median": r["median"],
            "loglik": r["loglik"], "beta": r["beta"], "se": r["se"], "re": re,
            "warnings": r.get("warnings", []), "meta": meta,
        }
    return got


# ----------------------------------------------------------------------------------- comparison
def _norm(name: str) -> str:
    """Coefficient names: fitglme 'cond_B' == lme4 'condB'."""
    return name.replace("_", "").replace(" ", "")


def compare(ours: dict, theirs: dict | None) -> dict:
    if not theirs or theirs.get("median") is None:
        return {}
    tb = {_norm(k): v for k, v in theirs["beta"].items()}
    db = [abs(v - tb[_norm(k)]) for k, v in ours["beta"].items() if _norm(k) in tb]
    dse = [abs(v - {_norm(k): x for k, x in theirs["se"].items()}.get(_norm(k), float("nan")))
           for k, v in ours["se"].items()]
    dre = [abs(v - theirs["re"][k]) for k, v in ours["re"].items() if k in theirs["re"]]
    ll = theirs.get("loglik")
    return {
        "ratio": theirs["median"] / ours["median"] if ours["median"] > 0 else None,
        "max_abs_beta_diff": max(db) if db else None,
        "max_abs_se_diff": max(dse) if dse else None,
        "max_abs_re_diff": max(dre) if dre else None,
        "re_compared": sorted(k for k in ours["re"] if k in theirs["re"]),
        "loglik_diff": (ours["loglik"] - ll) if ll is not None else None,
    }


def truth_error(case: Case, ours: dict) -> dict:
    """Largest distance of the estimates from the generating values (a sanity check)."""
    db = [abs(ours["beta"][k] - v) for k, v in case.truth["beta"].items() if k in ours["beta"]]
    dr = [abs(ours["re"][k] - v) for k, v in case.truth["re"].items() if k in ours["re"]]
    return {"max_abs_beta_vs_truth": max(db) if db else None, "max_abs_re_vs_truth": max(dr) if dr else None}


# ----------------------------------------------------------------------------------- targets
def evaluate_targets(records: list[dict]) -> list[dict]:
    out = []
    by = {(r["case"], r["method"]): r for r in records}
    for r in records:
        c = r["compare"]
        if c.get("ratio") is not None:
            out.append({"target": f"{r['case']} {r['method']}: >= {TARGET_RATIO:g}x faster than {r['lme4']['label']}",
                        "value": f"{c['ratio']:.2f}x", "met": c["ratio"] >= TARGET_RATIO})
    for (case, method), limit in TARGET_ABS.items():
        if (case, method) in by:
            t = by[(case, method)]["ours"]["median"]
            out.append({"target": f"{case} {method}: under {limit:g} s", "value": f"{t:.2f} s", "met": t < limit})
    small, big, lim = TARGET_SCALING
    for (case, method), r in by.items():
        if case == big and (small, method) in by:
            f = r["ours"]["median"] / by[(small, method)]["ours"]["median"]
            out.append({"target": f"{method}: time(1e6) / time(1e5) <= {lim:g}", "value": f"{f:.2f}", "met": f <= lim})
    for r in records:
        o = r["ours"]
        if o.get("traced_peak_bytes"):
            f = o["traced_peak_bytes"] / o["budget_bytes"]
            out.append({"target": f"{r['case']} {r['method']}: peak memory <= {TARGET_MEMORY:g} x (data + blocks)",
                        "value": f"{f:.1f}x ({o['traced_peak_bytes'] / 2**20:.1f} MB traced, "
                                 f"{o['rss_peak_bytes'] / 2**20:.1f} MB RSS; budget {o['budget_bytes'] / 2**20:.1f} MB)",
                        "met": f <= TARGET_MEMORY})
    for r in records:
        c = r["compare"]
        if c.get("max_abs_beta_diff") is not None:
            d = max(c["max_abs_beta_diff"], c.get("max_abs_re_diff") or 0.0)
            ll = c.get("loglik_diff")
            ok = d <= SAME_BETA_TOL or (ll is not None and ll >= -1e-3)
            out.append({"target": f"{r['case']} {r['method']}: same answers as {r['lme4']['label']}",
                        "value": f"max abs diff {d:.1e}" + ("" if ll is None else f", logLik diff {ll:+.4f}"),
                        "met": ok})
    return out


# ----------------------------------------------------------------------------------- report
def _f(x, fmt):
    return "-" if x is None else format(x, fmt)


def _n(n: int) -> str:
    return f"{n:,}"


def write_reports(records: list[dict], env: dict, targets: list[dict], out_dir: Path, note: str = "") -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"environment": env, "records": records, "targets": targets}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=1, default=str))
    L = ["# fitglme benchmark results", ""]
    if note:
        L += [note, ""]
    te = ", ".join(f"{k}={v}" for k, v in env["thread_env"].items())
    rmeta = next((r["lme4"]["meta"] for r in records if r.get("lme4")), None)
    la0, la1 = env.get("loadavg_start"), env.get("loadavg_end")
    L += [
        f"- Date: {env['date']}; command: `{env['command']}`",
        f"- Machine: {env['host_cpus']} CPUs ({env['cpu_model']}), {env['platform']}",
        f"- Load average (1, 5, 15 min) at start {_la(la0)}, at end {_la(la1)}",
        f"- Python {env['python']}, numpy {env['numpy']}, scipy {env['scipy']}, pandas {env['pandas']}; "
        f"BLAS {env['blas']}; {te}"
        + "".join(f"; {p['internal_api']} default threads {p['num_threads']}" for p in env.get("threadpools", [])),
        f"- fitglme at git {env['git_commit']}" + (f" (uncommitted changes in: {', '.join(env['git_dirty_package_files'])})"
                                                   if env["git_dirty_package_files"] else ""),
    ]
    srcs = sorted({h for r in records for h in r["ours"].get("fitglme_sources_md5", [])})
    L.append(f"- fitglme sources (md5 of fitglme/**/*.py as each fit ran): {', '.join(srcs)}"
             + (" -- **the package changed during the run**" if len(srcs) > 1 else " (unchanged during the run)"))
    if rmeta:
        L.append(f"- {rmeta['r_version']}, lme4 {rmeta['lme4_version']}, MASS {rmeta['mass_version']}, "
                 f"BLAS/LAPACK {rmeta['blas']}")
    else:
        L.append("- lme4: not run")
    reps = env.get("repeats")
    L += [
        f"- Times: median of {reps} runs of the fit call only (ours: each in a fresh process after an untimed "
        f"warm-up fit on 2,000 rows; lme4: `system.time` in one R session). Peak MB: tracemalloc peak during "
        f"the fit (numpy + Python allocations); RSS: peak resident-set growth during the fit. "
        f"Budget: 8 bytes x (y, X, Z_k, level indices) + random-effect blocks; target peak <= 3 x budget.",
        "",
        "| # | case | n | method | ours (s) | lme4 fit | lme4 (s) | ratio lme4/ours | peak MB (traced) | RSS +MB "
        "| budget MB | max abs beta diff | max abs RE diff | logLik diff | load | src |",
        "|---|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in records:
        o, c, t = r["ours"], r["compare"], r.get("lme4") or {}
        L.append(
            f"| {r['issue_case']} | {r['case']} | {_n(r['n'])} | {r['method']} | {o['median']:.3f} | "
            f"{t.get('label', 'not run')} | {'failed' if t.get('error') else _f(t.get('median'), '.2f')} | {_f(c.get('ratio'), '.2f')} | "
            f"{_f(None if o['traced_peak_bytes'] is None else o['traced_peak_bytes'] / 2**20, '.1f')} | "
            f"{o['rss_peak_bytes'] / 2**20:.1f} | {o['budget_bytes'] / 2**20:.1f} | "
            f"{_f(c.get('max_abs_beta_diff'), '.1e')} | {_f(c.get('max_abs_re_diff'), '.1e')} | "
            f"{_f(c.get('loglik_diff'), '+.4f')} | {_f((r.get('loadavg_at_case_start') or [None])[0], '.1f')} | "
            f"{'/'.join(h[:6] for h in o.get('fitglme_sources_md5', []))} |")
    L += ["", "logLik diff = ours - lme4 (positive: our optimum is higher). glmmPQL reports no logLik. "
          "RE diff compares the std/corr of each random term (and the residual std where both estimate it). "
          "load = 1-minute load average when the case started. src = md5 of the fitglme sources the fits ran "
          "(the package may change during a run).", ""]
    ncpu = env.get("host_cpus") or 1
    case_loads = [r["loadavg_at_case_start"][0] for r in records if r.get("loadavg_at_case_start")]
    if (la0 and la0[0] > 0.5 * ncpu) or any(x > ncpu for x in case_loads):
        worst = max([la0[0] if la0 else 0.0] + case_loads)
        L += [f"**Note: other work was running (1-minute load average up to {worst:.1f} on {ncpu} CPUs; the "
              f"single-threaded R fits of the previous case account for up to 1 of it). Times are inflated, "
              f"ours more than R's when BLAS runs several threads (see docs/performance.md).**", ""]
    if targets:
        met = sum(t["met"] for t in targets)
        L += [f"## Targets ({met} of {len(targets)} met)", "", "| target | value | met |", "|---|---|---|"]
        L += [f"| {t['target']} | {t['value']} | {'yes' if t['met'] else '**no**'} |" for t in targets]
        L.append("")
    warn_rows = [(r["case"], r["method"], w, "fitglme") for r in records for w in r["ours"]["warnings"]]
    warn_rows += [(r["case"], r["method"], w, r["lme4"]["label"]) for r in records if r.get("lme4")
                  for w in r["lme4"]["warnings"]]
    warn_rows += [(r["case"], r["method"], "ERROR " + r["lme4"]["error"], r["lme4"]["label"]) for r in records
                  if r.get("lme4") and r["lme4"].get("error")]
    if warn_rows:
        L += ["## Warnings and errors", ""] + [f"- {c} {m} ({who}): {' '.join(w.split())}"
                                               for c, m, w, who in warn_rows] + [""]
    L += ["## Data", ""]
    seen = set()
    for r in records:
        if r["case"] in seen:
            continue
        seen.add(r["case"])
        d = r["data"]
        # the file name only: the directories are those of the machine that ran (--data-dir, --work-dir)
        L.append(f"- {r['case']}: `{os.path.basename(d['path'])}` ({d['source']}, md5 {d['md5']})")
    L.append("")
    (out_dir / "RESULTS.md").write_text("\n".join(L))


def _la(la) -> str:
    return "-" if not la else ", ".join(f"{x:.2f}" for x in la)


# ----------------------------------------------------------------------------------- main
def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=None,
                    help="'all' (default), issue numbers 1-5, recipe keys (poisson_ri, binary_slope, binary_crossed, "
                         "subject_item, normal_slope) or case names, comma separated")
    ap.add_argument("--methods", default=None, help="only these FitMethods (comma separated)")
    ap.add_argument("--repeats", type=int, default=3, help="timed fits per case and method (median reported)")
    ap.add_argument("--r-repeats", type=int, default=None, help="lme4 repeats (default: --repeats)")
    ap.add_argument("--smoke", action="store_true",
                    help=f"smoke run: {SMOKE_CASE} (or --cases) with its first method, 1 repeat, no R, no "
                         "tracemalloc run, results to benchmarks/_work/smoke")
    ap.add_argument("--no-r", action="store_true", help="do not run lme4")
    ap.add_argument("--skip-r", default="", help="case:method pairs not to fit with lme4, comma separated "
                                                 "(e.g. poisson_ri_n1e6:Laplace, ~150 s per lme4 fit)")
    ap.add_argument("--no-trace", action="store_true", help="skip the tracemalloc run")
    ap.add_argument("--no-warmup", action="store_true", help="time the first fit of each process")
    ap.add_argument("--n", type=int, default=None, help="regenerate the selected cases at this n (numpy recipe)")
    ap.add_argument("--data-dir", type=Path, default=None, help=f"shared CSVs (default {DEFAULT_DATA_DIR})")
    ap.add_argument("--work-dir", type=Path, default=WORK_DIR,
                    help="generated CSVs, lme4 JSON/logs, temporary files (default benchmarks/_work, gitignored)")
    ap.add_argument("--out-dir", type=Path, default=None,
                    help="where RESULTS.md / results.json go (default: benchmarks/ for a full run of all cases, "
                         "benchmarks/_work/ otherwise, benchmarks/_work/smoke for --smoke)")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="set OPENBLAS/OMP/MKL_NUM_THREADS for our fits (default: leave the machine default)")
    ap.add_argument("--in-process", action="store_true", help="fit in this process (tests; memory less clean)")
    ap.add_argument("--timeout", type=float, default=7200.0, help="seconds per subprocess")
    a = ap.parse_args(argv)
    a.skip_r = {s.strip() for s in a.skip_r.split(",") if s.strip()}
    if a.smoke:
        a.repeats = 1
        a.no_r = True
        a.no_trace = True
    return a


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    full = args.cases in (None, "all") and args.n is None and not args.smoke and args.methods is None
    cases = select_cases(args.cases or (SMOKE_CASE if args.smoke else "all"), n=args.n)
    if args.out_dir is None:
        args.out_dir = args.work_dir / "smoke" if args.smoke else (BENCH_DIR if full else args.work_dir)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    env = environment()
    env["repeats"] = args.repeats
    if args.blas_threads:
        env["thread_env"]["fits (--blas-threads)"] = args.blas_threads
    use_r, why = (False, "--no-r") if args.no_r else r_available()
    if not use_r:
        log(f"lme4 comparison off: {why}")
    env["lme4"] = "yes" if use_r else f"no ({why})"
    log(f"load average {env['loadavg_start']}; {len(cases)} case(s)")
    records: list[dict] = []
    for case in cases:
        methods = list(case.methods)
        if args.methods:
            want = {m.strip().lower() for m in args.methods.split(",")}
            methods = [m for m in methods if m.lower() in want]
        if args.smoke and not args.methods:
            methods = methods[:1]
        if not methods:
            continue
        csv, source = data_file(case, args.data_dir, args.work_dir)
        la = os.getloadavg() if hasattr(os, "getloadavg") else None
        log(f"{case.name}: n = {case.n:,}, {source} data {csv}, load {la}")
        recs = []
        for m in methods:
            ours = bench_ours(case, csv, m, args)
            recs.append({
                "issue_case": case.issue_case, "case": case.name, "n": case.n, "method": m,
                "formula": case.formula, "distribution": case.distribution,
                "options": {k: v for k, v in case.fit_options(m).items()},
                "data": {"path": str(csv), "source": source, "md5": md5sum(csv),
                         "numpy_seed": None if source == "shared" else case.seed},
                "loadavg_at_case_start": la, "ours": ours, "truth": case.truth,
                "truth_error": truth_error(case, ours), "lme4": None, "compare": {},
            })
        if use_r:
            theirs = bench_r(case, csv, methods, args)
            for rec in recs:
                rec["lme4"] = theirs.get(rec["method"])
                rec["compare"] = compare(rec["ours"], rec["lme4"])
        for rec in recs:
            c = rec["compare"]
            log(f"  => {rec['case']} {rec['method']}: ours {rec['ours']['median']:.3f} s"
                + (f", lme4 {rec['lme4']['median']:.2f} s, ratio {c['ratio']:.2f}, max|dbeta| "
                   f"{c['max_abs_beta_diff']:.1e}" if c else ""))
        records += recs
        env["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
        # partial results after every case, so a long run that dies keeps what it measured
        write_reports(records, env, evaluate_targets(records), args.out_dir,
                      note="" if case is cases[-1] else "*(partial: run in progress)*")
    targets = evaluate_targets(records)
    write_reports(records, env, targets, args.out_dir,
                  note="*(smoke run)*" if args.smoke else "")
    log(f"wrote {args.out_dir / 'RESULTS.md'} and results.json")
    return records


if __name__ == "__main__":
    main()
