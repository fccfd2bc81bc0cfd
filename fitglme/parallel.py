"""Running many independent fits: serially, on local processes (joblib) or on a Dask cluster.

The work is a list of items (bootstrap replicates, response columns) processed by
``task(shared, items)``, where ``shared`` is everything the items have in common (the model's
design, layout and start values, see :mod:`fitglme.methods.manyfits`).  Items are grouped into
chunks; results are yielded per chunk as they finish, with their positions, so the caller puts
them in order (nothing depends on which worker ran which chunk).

Backends (docs/many_fits.md):

* serial (``UseParallel`` false): in this process.
* joblib (``UseParallel`` true): ``joblib.Parallel`` with the active backend (processes, loky, by
  default; ``joblib.parallel_config`` chooses another one and ``n_jobs``).  The shared part is
  pickled once to a temporary file; each chunk (about four per worker) carries a handle to it, and
  a worker reads the file once per batch (:class:`SharedFile`); the file is removed when the batch
  ends. (A joblib backend whose workers may run elsewhere gets the shared part with each chunk.)
* Dask: with ``Options.Client`` set, or inside ``joblib.parallel_config(backend='dask')``: the
  shared part is scattered to every worker once (``Client.scatter(..., broadcast=True)``) and
  each chunk is a task that refers to it.

joblib, dask and tqdm are optional extras (``python -m pip install ".[parallel]"``, ``".[dask]"``,
``".[progress]"``); a missing one is a clear error, and a missing tqdm falls back to a plain
progress line on stderr.
"""
from __future__ import annotations

import math
import os
import pickle
import sys
import tempfile
import threading
import time
import uuid
from typing import Any, Callable, Iterator, Sequence

from .errors import FitglmeError
from .fit_options import PARALLEL_FIELDS
from .options import as_bool, as_positive_int, match_string

#: the optimiser fields of the same statset structure (read by fitglme's OptimizerOptions /
#: EBOptions, not by the many-fits methods)
_OPTIMIZER_ONLY = ("TolFun", "TolX", "MaxIter", "MaxFunEvals")

DISPLAY_VALUES = ("off", "final", "iter", "notify")


def parallel_options(opts: Any, where: str) -> dict:
    """The validated parallel settings of an 'Options' value (None: serial defaults).

    Returns a dict with ``parallel`` (bool), ``n_workers`` (int or None), ``client``,
    ``chunk_size`` (int or None) and ``progress`` (True / False / None = when interactive).
    """
    if opts is None:
        opts = {}
    if not isinstance(opts, dict):
        raise FitglmeError(
            f"{where}: Options must be a statset structure (a dict such as statset('UseParallel', True)); "
            f"got {type(opts).__name__} {opts!r:.60}.",
            "fitglme:BadOptions",
        )
    opts = {k: v for k, v in opts.items() if k not in _OPTIMIZER_ONLY}
    unknown = [k for k in opts if k not in PARALLEL_FIELDS + ("Display",)]
    if unknown:
        raise FitglmeError(
            f"{where}: Options has unknown field(s) {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join(PARALLEL_FIELDS + ('Display',))}.",
            "fitglme:BadOptions",
        )
    get = opts.get
    parallel = get("UseParallel") is not None and as_bool(get("UseParallel"), "UseParallel")
    n_workers = None if get("NumWorkers") is None else as_positive_int(get("NumWorkers"), "NumWorkers")
    chunk = None if get("ChunkSize") is None else as_positive_int(get("ChunkSize"), "ChunkSize")
    client = get("Client")
    if client is not None and not (hasattr(client, "scatter") and hasattr(client, "submit")):
        raise FitglmeError(
            f"{where}: Options.Client must be a dask.distributed.Client; got {type(client).__name__}.",
            "fitglme:BadOptions",
        )
    progress = None
    if get("Display") is not None:
        disp = match_string(get("Display"), DISPLAY_VALUES, "Display", identifier="fitglme:BadOptions")
        progress = disp == "iter"
    if get("Progress") is not None:
        progress = as_bool(get("Progress"), "Progress")
    for name in ("UseSubstreams",):
        if get(name) is not None:
            as_bool(get(name), name)
    return {"parallel": parallel or client is not None, "n_workers": n_workers, "client": client,
            "chunk_size": chunk, "progress": progress}


__all__ = ["run_chunks", "default_workers", "parallel_options"]


def _need(module: str, extra: str, where: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as exc:
        raise FitglmeError(
            f"{where}: UseParallel needs the optional package {module.split('.')[0]!r}; install it "
            f"with pip install 'fitglme[{extra}]' (or run serially with statset('UseParallel', false)).",
            "fitglme:MissingOptionalDependency",
        ) from exc


def _active_joblib():
    """(backend object, n_jobs) of joblib's active configuration, or (None, None)."""
    try:
        from joblib.parallel import get_active_backend
    except ImportError:
        return None, None
    return get_active_backend()


def dask_client(opts: dict):
    """The Dask client to run on: Options.Client, or the one behind joblib's dask backend."""
    if opts.get("client") is not None:
        return opts["client"]
    backend, _ = _active_joblib()
    if backend is not None and type(backend).__name__ == "DaskDistributedBackend":
        return backend.client
    return None


def default_workers(opts: dict, client=None) -> int:
    """Number of workers the chunks are spread over."""
    if not opts["parallel"]:
        return 1
    if opts.get("n_workers"):
        return int(opts["n_workers"])
    if client is not None:
        return max(1, len(client.scheduler_info().get("workers", {})))
    _, n_jobs = _active_joblib()
    if n_jobs not in (None, -1) and n_jobs > 0:
        return int(n_jobs)
    return max(1, os.cpu_count() or 1)


def chunked(items: Sequence, n_workers: int, chunk_size: int | None, parallel: bool) -> list[list]:
    """Consecutive chunks of the items: about four per worker (serial: about 100 in all, for the
    progress display)."""
    n = len(items)
    if chunk_size is None:
        chunk_size = math.ceil(n / (4 * n_workers)) if parallel else max(1, math.ceil(n / 100))
    return [list(items[i : i + chunk_size]) for i in range(0, n, chunk_size)]


def _call(task: Callable, shared: Any, position: int, chunk: list):
    """One chunk, with BLAS on one thread as every fit runs (the small per-replicate products only
    lose to threading overhead; the limit is restored when the chunk returns), and glibc's trim
    threshold relaxed while it runs when the process was started with a low one, as Dask's workers
    are (:mod:`fitglme.allocator`; restored, and the heap trimmed, when the chunk returns)."""
    from .allocator import relaxed_trim
    from .blas import single_threaded_blas

    with single_threaded_blas(), relaxed_trim():
        return position, task(shared, chunk)


def run_chunks(task: Callable, shared: Any, items: Sequence, opts: dict, *, where: str,
               progress_label: str) -> Iterator[tuple[int, list]]:
    """Yield ``(chunk position, task(shared, chunk))`` for the chunks of ``items`` as they finish.

    ``opts``: from :func:`fitglme.parallel.parallel_options`.
    """
    client = dask_client(opts) if opts["parallel"] else None
    n_workers = default_workers(opts, client)
    chunks = chunked(items, n_workers, opts.get("chunk_size"), opts["parallel"])
    bar = Progress(len(items), progress_label, opts.get("progress"))
    try:
        if not opts["parallel"]:
            gen = (_call(task, shared, i, c) for i, c in enumerate(chunks))
        elif client is not None:
            gen = _run_dask(client, task, shared, chunks)
        else:
            _, config_jobs = _active_joblib()
            # NumWorkers, else joblib.parallel_config's n_jobs, else every core
            n_jobs = opts["n_workers"] or (None if config_jobs is not None else n_workers)
            gen = _run_joblib(task, shared, chunks, n_jobs, where)
        for pos, out in gen:
            bar.update(len(chunks[pos]))
            yield pos, out
    finally:
        bar.close()


class SharedFile:
    """The shared part of a batch, pickled once to a file that each worker reads once.

    joblib sends a task's arguments with every task; a chunk carries this small handle instead,
    and a worker loads the file on its first chunk of the batch and keeps it (one batch at a time)
    for the rest (docs/many_fits.md, "what travels").
    """

    def __init__(self, shared: Any) -> None:
        self.token = uuid.uuid4().hex
        fd, self.path = tempfile.mkstemp(prefix="fitglme-shared-", suffix=".pkl")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(shared, f, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self) -> Any:
        with _WORKER_LOCK:  # (threads of one worker read the file once between them)
            if _WORKER_SHARED.get("token") != self.token:
                _WORKER_SHARED.clear()  # (the previous batch's part: one batch's shared part per worker)
                with open(self.path, "rb") as f:
                    _WORKER_SHARED["value"] = pickle.load(f)
                _WORKER_SHARED["token"] = self.token
            return _WORKER_SHARED["value"]

    def remove(self) -> None:
        try:
            os.remove(self.path)
        except OSError:
            pass
        if _WORKER_SHARED.get("token") == self.token:  # (threading backend: this process's copy)
            _WORKER_SHARED.clear()


#: in a worker process: the shared part of the batch it is working on (see SharedFile)
_WORKER_SHARED: dict[str, Any] = {}
_WORKER_LOCK = threading.Lock()


def _call_shared_file(task: Callable, ref: SharedFile, position: int, chunk: list):
    return _call(task, ref.load(), position, chunk)


def _run_joblib(task, shared, chunks, n_jobs, where):
    joblib = _need("joblib", "parallel", where)
    par = joblib.Parallel(return_as="generator_unordered", **({} if n_jobs is None else {"n_jobs": n_jobs}))
    backend, _ = _active_joblib()
    if type(backend).__name__ not in _LOCAL_BACKENDS:  # workers elsewhere may not see our files
        yield from par(joblib.delayed(_call)(task, shared, i, c) for i, c in enumerate(chunks))
        return
    ref = SharedFile(shared)
    try:
        yield from par(joblib.delayed(_call_shared_file)(task, ref, i, c) for i, c in enumerate(chunks))
    finally:
        ref.remove()


#: joblib backends whose workers run on this machine (they can read the SharedFile)
_LOCAL_BACKENDS = ("LokyBackend", "MultiprocessingBackend", "ThreadingBackend", "SequentialBackend")


def _run_dask(client, task, shared, chunks):
    distributed = _need("dask.distributed", "dask", "Options.Client")
    remote = client.scatter(shared, broadcast=True, hash=False)
    futures = [client.submit(_call, task, remote, i, c, pure=False) for i, c in enumerate(chunks)]
    try:
        for fut in distributed.as_completed(futures):
            yield fut.result()
    finally:
        for fut in futures:
            fut.cancel()
        client.cancel(remote)


class Progress:
    """A progress bar: tqdm when installed, else a plain line on stderr; off when ``enabled`` is
    False, or (None) when stderr is not a terminal."""

    def __init__(self, total: int, label: str, enabled: bool | None) -> None:
        if enabled is None:
            enabled = bool(getattr(sys.stderr, "isatty", lambda: False)())
        self.total, self.label, self.done = total, label, 0
        self.bar = None
        self.enabled = enabled and total > 0
        self._last = 0.0
        if self.enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, desc=label, file=sys.stderr, leave=False)

    def update(self, k: int) -> None:
        self.done += k
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(k)
            return
        now = time.monotonic()
        if now - self._last > 0.5 or self.done == self.total:
            self._last = now
            sys.stderr.write(f"\r{self.label}: {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        else:
            sys.stderr.write("\n")
            sys.stderr.flush()
