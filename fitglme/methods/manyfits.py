"""Many fits of one model: what every refit shares, and the per-worker tasks.

A :class:`RefitPlan` holds what a refit to a new response needs and what does not change between
refits: the design X, the random-effects layout, the covariance patterns, the distribution and
link, the prior weights, sizes and offset of the observations used, the fit settings, the
original estimates (every refit starts from them) and, for the single-term Laplace fast path
(:mod:`fitglme.engine.refit`), the Hessian of the original fit's objective.  It holds no table:
the caller's data stay in this process.  It is built once per batch and sent to each worker once
(:mod:`fitglme.parallel`).

Tasks (run in the workers): :func:`bootstrap_task` (simulate a response from a replicate's seed,
refit, return the statistics) and :func:`refit_task` (refit given responses, return the engine
results).  Every replicate is computed from its own seed and the original estimates alone, so the
results do not depend on the backend, the number of workers or the chunking.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..covariance import std_corr
from ..diagnostics import check_fit
from ..engine.layout import ReLayout, constant_rows
from ..engine.lme import ThetaMap
from .. import engine
from ..engine.response import GLMResponse
from ..engine.problem import FitProblem, numerical_mode
from ..engine.refit import fast_path_applies, start_hessian, start_vector
from ..engine_warnings import warn_events
from ..errors import FitglmeError
from .simulation import simulate_fit_rows


@dataclass
class RefitPlan:
    """Everything a refit of one model to a new response shares with the others."""

    X: np.ndarray
    layout: ReLayout
    Zs: list  # per-term covariates, broadcast rows for random intercepts
    blocks: list  # per term: (Z, index, nlevels) for simulation
    block_names: list  # per term: SimpleNamespace(group_name, names) for the fit's warnings
    patterns: list
    dist: Any
    link: Any
    w: np.ndarray
    size: np.ndarray | None
    offset: np.ndarray
    settings: Any
    method: str
    beta: np.ndarray
    Ls: list  # absolute factors of the original fit (simulation)
    dispersion: float
    start: tuple  # (theta, beta, phi) in the engine's parameterisation
    hessian: np.ndarray | None
    columns: list[str]  # names of the statistics of a replicate
    cov_rows: list  # per term: report_rows() of its pattern
    n: int = 0
    extra: dict = field(default_factory=dict)

    # Pickling (to workers) would turn the read-only broadcast views of constant vectors and of
    # random-intercept columns into full arrays, which the engine treats differently (a constant
    # weight is a scalar factor; an intercept column is no column at all): they travel as
    # (value, shape) and are broadcast again on arrival, so every worker computes what this
    # process computes, bit for bit.
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for key in ("w", "size", "offset"):
            state[key] = _pack(state[key])
        state["Zs"] = [_pack(Z) for Z in state["Zs"]]
        state["blocks"] = [(_pack(Z), ix, m) for Z, ix, m in state["blocks"]]
        return state

    def __setstate__(self, state: dict) -> None:
        # Arrays may arrive in buffers aligned to less than numpy's allocations (e.g. Dask's
        # out-of-band frames); BLAS kernels sum in another order then.  Fresh copies compute alike.
        state = _fresh(state)
        state["layout"].__dict__.update(_fresh(dict(state["layout"].__dict__)))
        for key in ("w", "size", "offset"):
            state[key] = _unpack(state[key])
        state["Zs"] = [_unpack(Z) for Z in state["Zs"]]
        state["blocks"] = [(_unpack(Z), ix, m) for Z, ix, m in state["blocks"]]
        self.__dict__.update(state)

    def simulate(self, rng: np.random.Generator) -> np.ndarray:
        """A response for the observations used (as ``random(glme)`` without options)."""
        return simulate_fit_rows(self.X, self.blocks, self.beta, self.Ls, self.offset, self.w, self.size,
                                 self.dist, self.link, self.dispersion, rng)

    def response(self, y: np.ndarray) -> GLMResponse:
        return GLMResponse(self.dist, self.link, y, self.w, self.size, self.offset)

    def fit(self, y: np.ndarray, cov_beta: bool):
        """Engine result of the fit to ``y`` (warnings as the full fit issues them)."""
        self.dist.validate_response(y, self.w, self.size)
        resp = self.response(y)
        try:
            problem = FitProblem(resp, self.X, self.layout, self.Zs, self.patterns, self.settings,
                                 start=self.start)
            res = engine.fit(problem, hessian=self.hessian, cov_beta=cov_beta)
            warn_events(res.events)
            check_fit(res, self.block_names, self.dist, y)
        finally:
            # GLMResponse keeps a bound method of itself (a reference cycle): without this, every
            # replicate's response would wait for the cyclic garbage collector, and a worker's memory
            # grow with its chunk.
            resp.__dict__.pop("_kernel", None)
        return res

    def statistics(self, res) -> np.ndarray:
        """One replicate's row: fixed effects, covariance parameters, dispersion, log-likelihood."""
        parts = [np.asarray(res.beta, float)]
        for psi, rows in zip(res.psi, self.cov_rows):
            parts.append(np.asarray(std_corr(psi, rows), float))
        parts.append([float(res.dispersion), float(res.loglik)])
        return np.concatenate(parts)


class _Broadcast:
    """A broadcast view in transit: its one row and its shape."""

    def __init__(self, row: np.ndarray, shape: tuple) -> None:
        self.row, self.shape = np.array(row), tuple(shape)


def _fresh(obj):
    """``obj`` with every numpy array inside dicts, lists and tuples copied to a new allocation."""
    if isinstance(obj, np.ndarray):
        return np.array(obj, copy=True, order="C")
    if isinstance(obj, dict):
        return {k: _fresh(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_fresh(v) for v in obj)
    if isinstance(obj, _Broadcast):
        return _Broadcast(np.array(obj.row, copy=True), obj.shape)
    return obj


def _pack(a):
    if isinstance(a, np.ndarray) and a.ndim >= 1 and a.size and a.strides[0] == 0:
        return _Broadcast(a[0], a.shape)
    return a


def _unpack(a):
    if isinstance(a, _Broadcast):
        return np.broadcast_to(a.row, a.shape)
    return a


def statistic_names(glme) -> list[str]:
    """Column names of the Replicates table: coefficient names, then per random term MATLAB's
    covariance rows as 'group: type(name1)' / 'group: corr(name1,name2)', then Dispersion and
    LogLikelihood."""
    names = list(glme.CoefficientNames)
    for group, _m, n1, n2, types, _e, _p in glme._covariance_rows():
        for a, b, t in zip(n1, n2, types):
            names.append(f"{group}: {t}({a})" if t == "std" else f"{group}: {t}({a},{b})")
    names += ["Dispersion", "LogLikelihood"]
    if len(set(names)) != len(names):  # (two terms on the same grouping variable)
        seen: dict[str, int] = {}
        out = []
        for nm in names:
            seen[nm] = seen.get(nm, 0) + 1
            out.append(nm if seen[nm] == 1 else f"{nm} [{seen[nm]}]")
        names = out
    return names


def make_plan(glme, hessian: bool = True) -> RefitPlan:
    """The shared part of many refits of ``glme`` (no table, no cached properties)."""
    d, res, settings = glme._design, glme._result, glme._settings
    if settings.start_method == "random":
        raise FitglmeError(
            "Many refits start from the original estimates; a model fitted with StartMethod 'random' "
            "has no reproducible start per replicate. Refit it with the default StartMethod.",
            "fitglme:BadStartMethod",
        )
    if settings.mu_start is not None:
        settings = _copy_settings(settings, mu_start=None)  # (MuStart belongs to the original response)
    Zs = [constant_rows(b.Z) for b in d.re_blocks]
    layout = ReLayout([b.index for b in d.re_blocks], [b.nlevels for b in d.re_blocks], [b.q for b in d.re_blocks])
    resp = glme._resp
    thetas = ThetaMap(glme._patterns)
    method = glme._method
    if method in ("MPL", "REMPL"):
        s2 = float(res.dispersion)
        theta = thetas.from_covariances([P / s2 for P in res.psi])
        start = (theta, res.beta, s2)
    else:
        start = (thetas.from_covariances(res.psi), res.beta, float(res.dispersion))
    H = None
    if hessian and fast_path_applies(resp, layout.with_mode(numerical_mode(resp, layout)), settings):
        dfree = not resp.dist.dispersion_fixed
        x0 = start_vector(thetas, start[0], start[1], start[2], dfree)
        try:
            H = start_hessian(resp, d.X, layout, Zs, glme._patterns, x0)
        except (np.linalg.LinAlgError, FloatingPointError):
            H = None
        if H is not None and not np.all(np.isfinite(H)):
            H = None
        del dfree
    return RefitPlan(
        X=d.X, layout=layout, Zs=Zs, blocks=[(b.Z, b.index, b.nlevels) for b in d.re_blocks],
        block_names=[SimpleNamespace(group_name=b.group_name, names=list(b.names)) for b in d.re_blocks],
        patterns=glme._patterns, dist=glme._dist, link=glme._link, w=resp.w, size=resp.size, offset=resp.offset,
        settings=settings, method=method, beta=np.array(res.beta, float), Ls=[np.array(L) for L in res.Ls],
        dispersion=float(res.dispersion), start=start, hessian=H, columns=statistic_names(glme),
        cov_rows=[p.report_rows() for p in glme._patterns], n=int(d.X.shape[0]),
    )


def _copy_settings(settings, **changes):
    from dataclasses import replace

    return replace(settings, **changes)


def _identifier(w) -> str:
    msg = w.message
    return getattr(msg, "identifier", None) or type(msg).__name__


def run_replicate(plan: RefitPlan, y: np.ndarray, cov_beta: bool):
    """(engine result or None, warning identifiers, error identifier, error message) of one fit;
    a failure is recorded, not raised."""
    from ..blas import single_threaded_blas

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res, err, msg = None, "", ""
        try:
            with single_threaded_blas(), np.errstate(all="ignore"):
                res = plan.fit(y, cov_beta)
        except FitglmeError as exc:
            err, msg = exc.identifier, str(exc)
        except Exception as exc:  # noqa: BLE001 -- a failed replicate is data, never fatal to the batch
            err, msg = f"fitglme:ReplicateFailed:{type(exc).__name__}", str(exc)
    notes: list = []  # (identifier, message), each identifier once
    for w in caught:
        ident = _identifier(w)
        if ident not in [i for i, _ in notes]:
            notes.append((ident, str(w.message)))
    return res, notes, err, msg


def bootstrap_task(plan: RefitPlan, items: list) -> list:
    """Replicates (position, seed) -> (position, statistics, converged, warnings, error)."""
    out = []
    ncol = len(plan.columns)
    for pos, seed in items:
        y = plan.simulate(np.random.default_rng(seed))
        res, notes, err, _msg = run_replicate(plan, y, cov_beta=False)
        ids = [ident for ident, _ in notes]
        if res is None:
            out.append((pos, np.full(ncol, np.nan), False, ids, err))
        else:
            out.append((pos, plan.statistics(res), bool(res.converged), ids, err))
    return out


def refit_task(plan: RefitPlan, items: list) -> list:
    """Responses (position, y) -> (position, engine result or None, [(warning id, text)], error,
    message)."""
    out = []
    for pos, y in items:
        res, notes, err, msg = run_replicate(plan, y, cov_beta=True)
        out.append((pos, res, notes, err, msg))
    return out

