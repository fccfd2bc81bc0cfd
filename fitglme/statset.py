"""``statset``: MATLAB's options structure for the statistics functions, as a dict.

Only the fields that fitglme's many-fits methods read are checked; they are MATLAB's
``UseParallel``, ``UseSubstreams`` and ``Streams`` plus Python additions for the parallel
backend (docs/many_fits.md): ``NumWorkers`` (joblib's ``n_jobs``), ``Client`` (a
``dask.distributed.Client``: run on that cluster), ``ChunkSize`` (replicates per task) and
``Display`` ('off' / 'final' / 'iter': a progress bar on 'iter', by default only when stderr is
a terminal).
"""
from __future__ import annotations

from typing import Any

from .errors import FitglmeError
from .options import as_bool, as_positive_int, match_string, parse_name_value

__all__ = ["statset", "STATSET_FIELDS", "parallel_options"]

#: the fields statset accepts (MATLAB's names; the last four are Python additions)
STATSET_FIELDS = ("UseParallel", "UseSubstreams", "Streams", "Display", "NumWorkers", "Client", "ChunkSize",
                  "Progress")

DISPLAY_VALUES = ("off", "final", "iter", "notify")


def statset(*args: Any, **kwargs: Any) -> dict:
    """Options for parallel many-fits methods (MATLAB's ``statset``).

    ``statset('UseParallel', true)`` in MATLAB is ``statset('UseParallel', True)`` here.  An
    existing options dict may come first (MATLAB's ``statset(oldopts, Name, Value)``); names are
    case-insensitive and unambiguous prefixes are accepted.

    Parameters
    ----------
    UseParallel : bool, default False
        Run the replicates in parallel (joblib: processes by default; a Dask cluster inside
        ``joblib.parallel_config(backend='dask')`` or with ``Client``).
    NumWorkers : int, optional
        Number of parallel workers (joblib's ``n_jobs``; default: every core, or the Dask
        cluster's workers).
    Client : dask.distributed.Client, optional
        Run on this Dask cluster.
    ChunkSize : int, optional
        Replicates per task (default: about four tasks per worker).
    Display : {'off', 'final', 'iter'}, optional
        'iter' shows a progress bar; 'off' none.  Default: a bar when stderr is a terminal.
    UseSubstreams, Streams
        Accepted for MATLAB compatibility; reproducibility comes from the ``Seed`` of the
        method (one child seed per replicate, see docs/many_fits.md).

    Returns
    -------
    dict

    Examples
    --------
    >>> opts = statset('UseParallel', True)
    >>> opts['UseParallel']
    True
    """
    base: dict = {}
    if args and isinstance(args[0], dict):
        base = dict(args[0])
        args = args[1:]
    opts = parse_name_value(args, kwargs, STATSET_FIELDS, "statset")
    out = {k: base.get(k) for k in STATSET_FIELDS}
    out.update(opts)
    parallel_options(out, "statset")  # validates
    return out


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
    unknown = [k for k in opts if k not in STATSET_FIELDS]
    if unknown:
        raise FitglmeError(
            f"{where}: Options has unknown field(s) {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join(STATSET_FIELDS)}.",
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
