"""Benchmark cases: models, data sets and the numpy recipes that (re)generate them.

Every case is one data set fitted by one or more FitMethods.  The five cases of the performance
issue are:

1. ``poisson_ri_n1e4`` / ``poisson_ri_n1e5`` / ``poisson_ri_n1e6``: Poisson, ``y ~ 1 + x + (1|g)``,
   n/10 groups of 10 rows (Laplace, ApproximateLaplace, MPL with DispersionFlag).
2. ``binary_slope_n1e5_g1000``: logit, ``y ~ 1 + x + (1 + x|g)``, 1,000 groups of 100 rows (Laplace).
3. ``binary_crossed_n1e5_2000x100``: logit, ``y ~ 1 + x + (1|f1) + (1|f2)``, crossed factors with
   2,000 and 100 levels (Laplace, ApproximateLaplace).
4. ``binary_crossed_n7584_316x24``: logit, subject x item design (316 x 24, every pair once),
   ``y ~ 1 + x1 + x2 + cond + (1|subj) + (1|item)`` (Laplace).
5. ``normal_slope_n1e5_g1000``: Normal, ``y ~ 1 + x + (1 + x|g)``, 1,000 groups of 100 rows
   (MPL = ML, REMPL = REML; compared with lmer).

Cases 1-3 are read from ``../shared/bench_data/`` (the exact R draws behind the lme4 baselines) when
the CSV is there; otherwise, or when another n is asked for, they are regenerated with numpy by the
same recipe (same distribution, different draws: R's Mersenne-Twister/inversion streams cannot be
replayed in numpy).  Cases 4 and 5 have no shared CSV and are always generated with a fixed numpy
seed and written to ``benchmarks/_work/data/`` so that R fits exactly the same file.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / "_work"
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "bench_data"


# ----------------------------------------------------------------------------------- recipes
def _logistic(eta: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-eta))


def gen_poisson_ri(n: int, seed: int) -> pd.DataFrame:
    """G = n/10 groups of 10 consecutive rows; x ~ N(0,1) (6 dp); u_g ~ N(0, 0.5^2);
    y ~ Poisson(exp(0.5 + 0.3 x + u_g)).  (bench_data README recipe, numpy draws.)"""
    rng = np.random.default_rng(seed)
    G = n // 10
    g = np.repeat(np.arange(1, G + 1), 10)[:n]
    x = np.round(rng.standard_normal(n), 6)
    u = rng.normal(0.0, 0.5, G)
    y = rng.poisson(np.exp(0.5 + 0.3 * x + u[g - 1]))
    return pd.DataFrame({"g": g, "x": x, "y": y})


def gen_binary_slope(n: int, seed: int) -> pd.DataFrame:
    """G = n/100 groups of 100 consecutive rows; x ~ N(0,1) (6 dp); z1, z2 ~ N(0,1) per group;
    u0 = z1, u1 = 0.5 (0.3 z1 + sqrt(0.91) z2) (std 1 and 0.5, corr 0.3);
    y ~ Bernoulli(logistic(-0.5 + 0.8 x + u0 + u1 x))."""
    rng = np.random.default_rng(seed)
    G = max(n // 100, 1)
    g = np.repeat(np.arange(1, G + 1), 100)[:n]
    x = np.round(rng.standard_normal(n), 6)
    z1 = rng.standard_normal(G)
    z2 = rng.standard_normal(G)
    u0 = z1
    u1 = 0.5 * (0.3 * z1 + np.sqrt(0.91) * z2)
    p = _logistic(-0.5 + 0.8 * x + u0[g - 1] + u1[g - 1] * x)
    y = (rng.random(n) < p).astype(np.int64)
    return pd.DataFrame({"g": g, "x": x, "y": y})


def gen_binary_crossed(n: int, seed: int, L1: int = 2000, L2: int = 100) -> pd.DataFrame:
    """f1 uniform on 1..L1, f2 uniform on 1..L2 (independent, with replacement); x ~ N(0,1) (6 dp);
    a ~ N(0, 0.8^2) (L1), b ~ N(0, 0.5^2) (L2); y ~ Bernoulli(logistic(-0.3 + 0.5 x + a_f1 + b_f2))."""
    rng = np.random.default_rng(seed)
    f1 = rng.integers(1, L1 + 1, n)
    f2 = rng.integers(1, L2 + 1, n)
    x = np.round(rng.standard_normal(n), 6)
    a = rng.normal(0.0, 0.8, L1)
    b = rng.normal(0.0, 0.5, L2)
    p = _logistic(-0.3 + 0.5 * x + a[f1 - 1] + b[f2 - 1])
    y = (rng.random(n) < p).astype(np.int64)
    return pd.DataFrame({"f1": f1, "f2": f2, "x": x, "y": y})


def gen_subject_item(n: int, seed: int, n_items: int = 24) -> pd.DataFrame:
    """Subject x item design, every pair once: S = n/24 subjects (316 for n = 7,584) x 24 items.
    cond is a 2-level factor counterbalanced Latin-square style ('A' when subj + item is even, else
    'B': within subjects and within items); x1 ~ N(0,1) per row (a trial covariate), x2 ~ N(0,1) per
    subject (a subject covariate), both 6 dp; a_subj ~ N(0, 0.9^2), b_item ~ N(0, 0.5^2);
    y ~ Bernoulli(logistic(0.2 + 0.5 x1 - 0.3 x2 + 0.4 [cond == 'B'] + a_subj + b_item))."""
    rng = np.random.default_rng(seed)
    S = max(n // n_items, 1)
    subj = np.repeat(np.arange(1, S + 1), n_items)
    item = np.tile(np.arange(1, n_items + 1), S)
    m = S * n_items
    cond = np.where((subj + item) % 2 == 0, "A", "B")
    x1 = np.round(rng.standard_normal(m), 6)
    x2s = np.round(rng.standard_normal(S), 6)
    x2 = x2s[subj - 1]
    a = rng.normal(0.0, 0.9, S)
    b = rng.normal(0.0, 0.5, n_items)
    eta = 0.2 + 0.5 * x1 - 0.3 * x2 + 0.4 * (cond == "B") + a[subj - 1] + b[item - 1]
    y = (rng.random(m) < _logistic(eta)).astype(np.int64)
    return pd.DataFrame({"subj": subj, "item": item, "cond": cond, "x1": x1, "x2": x2, "y": y})


def gen_normal_slope(n: int, seed: int) -> pd.DataFrame:
    """G = n/100 groups of 100 consecutive rows; x ~ N(0,1) (6 dp); z1, z2 ~ N(0,1) per group;
    u0 = z1, u1 = 0.5 (0.3 z1 + sqrt(0.91) z2); y = 1 + 0.5 x + u0 + u1 x + e, e ~ N(0,1),
    y rounded to 6 dp (so the CSV holds exactly the data fitted)."""
    rng = np.random.default_rng(seed)
    G = max(n // 100, 1)
    g = np.repeat(np.arange(1, G + 1), 100)[:n]
    x = np.round(rng.standard_normal(n), 6)
    z1 = rng.standard_normal(G)
    z2 = rng.standard_normal(G)
    u0 = z1
    u1 = 0.5 * (0.3 * z1 + np.sqrt(0.91) * z2)
    y = 1.0 + 0.5 * x + u0[g - 1] + u1[g - 1] * x + rng.standard_normal(n)
    return pd.DataFrame({"g": g, "x": x, "y": np.round(y, 6)})


INSTEVAL_N = 73_421


def gen_insteval(n: int, seed: int) -> pd.DataFrame:
    """A synthetic stand-in for lme4's InstEval, of the same shape (the worker's warm-up data; the
    case itself is fitted to the real file, see :func:`data_file`): S = n/25 students, D = n/65
    lecturers in 14 departments, service 0/1, y = clip(round(3.2 + a_s + b_d + e), 1, 5)."""
    rng = np.random.default_rng(seed)
    S, D = max(n // 25, 2), max(n // 65, 2)
    s = rng.integers(1, S + 1, n)
    d = rng.integers(1, D + 1, n)
    dept = (d % 14) + 1
    service = rng.integers(0, 2, n)
    y = 3.2 + rng.normal(0, 0.3, S)[s - 1] + rng.normal(0, 0.5, D)[d - 1] + rng.normal(0, 1.2, n)
    return pd.DataFrame({"s": s, "d": d, "service": service, "dept": dept,
                         "y": np.clip(np.round(y), 1, 5).astype(np.int64)})


def dichotomise_rating(df: pd.DataFrame) -> pd.DataFrame:
    """InstEval's rating dichotomised: y = 1 when the rating is 4 or 5."""
    df = df.copy()
    df["y"] = (df["y"] >= 4).astype(np.int64)
    return df


def gen_insteval_binary(n: int, seed: int) -> pd.DataFrame:
    """:func:`gen_insteval` dichotomised (:func:`dichotomise_rating`)."""
    return dichotomise_rating(gen_insteval(n, seed))


def gen_binary_crossed_big(n: int, seed: int) -> pd.DataFrame:
    """:func:`gen_binary_crossed` with 10,000 x 1,000 crossed levels."""
    return gen_binary_crossed(n, seed, L1=10_000, L2=1_000)


def gen_gamma_block4(n: int, seed: int) -> pd.DataFrame:
    """G = n/100 subjects of 100 consecutive rows; x1, x2, x3 ~ N(0,1) (6 dp); per subject a
    correlated 4-vector b ~ N(0, Sigma), sds (0.5, 0.4, 0.3, 0.3), all correlations 0.3;
    y ~ Gamma(shape 5, mean exp(1 + 0.3 x1 - 0.2 x2 + 0.1 x3 + b0 + b1 x1 + b2 x2 + b3 x3)), 6 dp."""
    rng = np.random.default_rng(seed)
    G = max(n // 100, 1)
    g = np.repeat(np.arange(1, G + 1), 100)[:n]
    X = np.round(rng.standard_normal((n, 3)), 6)
    sd = np.array([0.5, 0.4, 0.3, 0.3])
    R = np.full((4, 4), 0.3) + 0.7 * np.eye(4)
    b = rng.multivariate_normal(np.zeros(4), R * np.outer(sd, sd), G)
    eta = 1 + X @ np.array([0.3, -0.2, 0.1]) + b[g - 1, 0] + np.einsum("ij,ij->i", X, b[g - 1, 1:])
    y = np.maximum(np.round(rng.gamma(5.0, np.exp(eta) / 5.0), 6), 1e-6)
    return pd.DataFrame({"g": g, "x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2], "y": y})


# ----------------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """One benchmark data set and the models fitted to it."""

    key: str                     # recipe family: poisson_ri, binary_slope, binary_crossed, ...
    issue_case: int              # number in the performance issue
    n: int
    name: str                    # data-set name (= shared CSV stem when shipped)
    formula: str                 # fitglme formula
    distribution: str
    methods: tuple[str, ...]     # fitglme FitMethods
    groups: tuple[str, ...]      # integer-coded grouping columns (-> categorical)
    recipe: Callable[[int, int], pd.DataFrame]
    seed: int                    # numpy seed for regeneration
    shared_csv: bool             # whether ../shared/bench_data/<name>.csv exists for this n
    truth: dict                  # generating values: {'beta': {...}, 're': {...}}
    r_formula: str               # glmer / lmer formula
    r_family: str                # poisson | binomial | gaussian
    factors: tuple[str, ...] = ()  # other categorical (string) columns
    pql_fixed: str = ""
    pql_random: str = ""
    pql_opt: str = ""  # nlme::lmeControl(opt = ...) for glmmPQL ('' = its default, nlminb)
    # real data: the shared CSV (stem) the case is fitted to -- never replaced by its recipe, which
    # only makes the warm-up data -- and the transformation applied to it (None: the file itself)
    real_data: str = ""
    derive: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    # fitglme options per method beyond Distribution/FitMethod
    extra_options: dict = field(default_factory=dict)

    def fit_options(self, method: str) -> dict:
        opts = {"Distribution": self.distribution, "FitMethod": method}
        opts.update(self.extra_options.get(method, {}))
        return opts

    def r_method(self, method: str) -> str:
        """The lme4 / MASS fit that matches a fitglme FitMethod."""
        if self.distribution == "Normal":
            return {"MPL": "lmer_ML", "REMPL": "lmer_REML"}[method]
        return {"Laplace": "glmer_nAGQ1", "ApproximateLaplace": "glmer_nAGQ0", "MPL": "glmmPQL"}[method]


R_METHOD_LABEL = {
    "glmer_nAGQ1": "glmer nAGQ=1",
    "glmer_nAGQ0": "glmer nAGQ=0",
    "glmmPQL": "MASS::glmmPQL",
    "lmer_ML": "lmer REML=FALSE",
    "lmer_REML": "lmer REML=TRUE",
}

_POISSON_TRUTH = {"beta": {"(Intercept)": 0.5, "x": 0.3}, "re": {"g:std:(Intercept)": 0.5}}
_SLOPE_TRUTH = {"beta": {"(Intercept)": -0.5, "x": 0.8},
                "re": {"g:std:(Intercept)": 1.0, "g:std:x": 0.5, "g:corr:(Intercept):x": 0.3}}
_CROSSED_TRUTH = {"beta": {"(Intercept)": -0.3, "x": 0.5},
                  "re": {"f1:std:(Intercept)": 0.8, "f2:std:(Intercept)": 0.5}}
_SUBJ_ITEM_TRUTH = {"beta": {"(Intercept)": 0.2, "x1": 0.5, "x2": -0.3, "cond_B": 0.4},
                    "re": {"subj:std:(Intercept)": 0.9, "item:std:(Intercept)": 0.5}}
_NORMAL_TRUTH = {"beta": {"(Intercept)": 1.0, "x": 0.5},
                 "re": {"g:std:(Intercept)": 1.0, "g:std:x": 0.5, "g:corr:(Intercept):x": 0.3,
                        "Error:std": 1.0}}

# Sizes shipped in ../shared/bench_data (with the R seeds used there: 101-105).
_SHARED = {
    ("poisson_ri", 10_000): "poisson_ri_n1e4",
    ("poisson_ri", 100_000): "poisson_ri_n1e5",
    ("poisson_ri", 1_000_000): "poisson_ri_n1e6",
    ("binary_slope", 100_000): "binary_slope_n1e5_g1000",
    ("binary_crossed", 100_000): "binary_crossed_n1e5_2000x100",
}

KEYS = ("poisson_ri", "binary_slope", "binary_crossed", "subject_item", "normal_slope")
#: the real-scale cases (selected by key or name; not part of 'all', whose lme4 fits are the baseline)
SCALE_KEYS = ("insteval", "insteval_binary", "binary_crossed_big", "gamma_block4")


def _size_label(n: int) -> str:
    for e in range(3, 8):
        if n == 10 ** e:
            return f"1e{e}"
    return str(n)


def make_case(key: str, n: int | None = None) -> Case:
    """The case of recipe ``key`` at n rows (default: the size of the performance target, docs/performance.md)."""
    if key == "poisson_ri":
        n = n or 100_000
        return Case(
            key=key, issue_case=1, n=n,
            name=_SHARED.get((key, n), f"poisson_ri_n{_size_label(n)}"),
            formula="y ~ 1 + x + (1|g)", distribution="Poisson",
            methods=("Laplace", "ApproximateLaplace", "MPL"), groups=("g",),
            recipe=gen_poisson_ri, seed=1001, shared_csv=(key, n) in _SHARED,
            truth=_POISSON_TRUTH, r_formula="y ~ 1 + x + (1|g)", r_family="poisson",
            pql_fixed="y ~ 1 + x", pql_random="~ 1 | g",
            extra_options={"MPL": {"DispersionFlag": True}},
        )
    if key == "binary_slope":
        n = n or 100_000
        return Case(
            key=key, issue_case=2, n=n,
            name=_SHARED.get((key, n), f"binary_slope_n{_size_label(n)}_g{max(n // 100, 1)}"),
            formula="y ~ 1 + x + (1 + x|g)", distribution="Binomial", methods=("Laplace",),
            groups=("g",), recipe=gen_binary_slope, seed=2002, shared_csv=(key, n) in _SHARED,
            truth=_SLOPE_TRUTH, r_formula="y ~ 1 + x + (1 + x|g)", r_family="binomial",
        )
    if key == "binary_crossed":
        n = n or 100_000
        return Case(
            key=key, issue_case=3, n=n,
            name=_SHARED.get((key, n), f"binary_crossed_n{_size_label(n)}_2000x100"),
            formula="y ~ 1 + x + (1|f1) + (1|f2)", distribution="Binomial",
            methods=("Laplace", "ApproximateLaplace"), groups=("f1", "f2"),
            recipe=gen_binary_crossed, seed=3003, shared_csv=(key, n) in _SHARED,
            truth=_CROSSED_TRUTH, r_formula="y ~ 1 + x + (1|f1) + (1|f2)", r_family="binomial",
        )
    if key == "subject_item":
        n = n or 7_584
        S = max(n // 24, 1)
        n = S * 24
        return Case(
            key=key, issue_case=4, n=n, name=f"binary_crossed_n{n}_{S}x24",
            formula="y ~ 1 + x1 + x2 + cond + (1|subj) + (1|item)", distribution="Binomial",
            methods=("Laplace",), groups=("subj", "item"), factors=("cond",),
            recipe=gen_subject_item, seed=4004, shared_csv=False, truth=_SUBJ_ITEM_TRUTH,
            r_formula="y ~ 1 + x1 + x2 + cond + (1|subj) + (1|item)", r_family="binomial",
        )
    if key == "normal_slope":
        n = n or 100_000
        return Case(
            key=key, issue_case=5, n=n, name=f"normal_slope_n{_size_label(n)}_g{max(n // 100, 1)}",
            formula="y ~ 1 + x + (1 + x|g)", distribution="Normal", methods=("MPL", "REMPL"),
            groups=("g",), recipe=gen_normal_slope, seed=5005, shared_csv=False, truth=_NORMAL_TRUTH,
            r_formula="y ~ 1 + x + (1 + x|g)", r_family="gaussian",
        )
    if key in ("insteval", "insteval_binary"):
        n = n or INSTEVAL_N
        binary = key == "insteval_binary"
        form = "y ~ 1 + service + (1|s) + (1|d) + (1|dept:service)"
        return Case(
            key=key, issue_case=14, n=n, name=("InstEval" if n == INSTEVAL_N else f"insteval_like_n{n}")
            + ("_binary" if binary else ""),
            formula=form, distribution="Binomial" if binary else "Normal",
            methods=("Laplace", "ApproximateLaplace") if binary else ("MPL", "REMPL"),
            groups=("s", "d", "service", "dept"), recipe=gen_insteval_binary if binary else gen_insteval,
            seed=1414, shared_csv=False, truth={"beta": {}, "re": {}}, r_formula=form,
            r_family="binomial" if binary else "gaussian",
            real_data="InstEval" if n == INSTEVAL_N else "", derive=dichotomise_rating if binary else None,
        )
    if key == "binary_crossed_big":
        n = n or 1_000_000
        return Case(
            key=key, issue_case=14, n=n, name=f"binary_crossed_n{_size_label(n)}_10000x1000",
            formula="y ~ 1 + x + (1|f1) + (1|f2)", distribution="Binomial", methods=("Laplace",),
            groups=("f1", "f2"), recipe=gen_binary_crossed_big, seed=1415, shared_csv=False,
            truth=_CROSSED_TRUTH, r_formula="y ~ 1 + x + (1|f1) + (1|f2)", r_family="binomial",
        )
    if key == "gamma_block4":
        n = n or 100_000
        return Case(
            key=key, issue_case=14, n=n, name=f"gamma_block4_n{_size_label(n)}_g{max(n // 100, 1)}",
            formula="y ~ 1 + x1 + x2 + x3 + (1 + x1 + x2 + x3|g)", distribution="Gamma",
            methods=("MPL",), groups=("g",), recipe=gen_gamma_block4, seed=1416, shared_csv=False,
            truth={"beta": {"(Intercept)": 1.0, "x1": 0.3, "x2": -0.2, "x3": 0.1},
                   "re": {"g:std:(Intercept)": 0.5, "g:std:x1": 0.4, "g:std:x2": 0.3, "g:std:x3": 0.3}},
            r_formula="y ~ 1 + x1 + x2 + x3 + (1 + x1 + x2 + x3|g)", r_family="gamma_log",
            pql_fixed="y ~ 1 + x1 + x2 + x3", pql_random="~ 1 + x1 + x2 + x3 | g",
            # glmmPQL fails on this case with nlminb ("false convergence") and with
            # pql_opt="optim" ("missing values in object"): docs/performance.md
            extra_options={"MPL": {"Link": "log"}},
        )
    raise KeyError(f"unknown case recipe {key!r}; known: {', '.join(KEYS + SCALE_KEYS)}")


def default_cases() -> list[Case]:
    """The issue's cases in order (case 1 at three sizes)."""
    return [make_case("poisson_ri", 10_000), make_case("poisson_ri", 100_000),
            make_case("poisson_ri", 1_000_000), make_case("binary_slope"), make_case("binary_crossed"),
            make_case("subject_item"), make_case("normal_slope")]


def select_cases(spec: str, n: int | None = None) -> list[Case]:
    """Cases from a comma/space separated list of names, recipe keys, issue numbers or 'all'."""
    allc = default_cases()
    out: list[Case] = []
    for tok in spec.replace(",", " ").split():
        if tok == "all":
            picked = allc
        elif tok in SCALE_KEYS:
            picked = [make_case(tok)]
        elif tok == "scale":
            picked = [make_case(k) for k in SCALE_KEYS]
        elif tok.isdigit():
            picked = [c for c in allc if c.issue_case == int(tok)]
        elif tok in KEYS:
            picked = [c for c in allc if c.key == tok]
        else:
            picked = [c for c in allc if c.name == tok]
        if not picked:
            names = ", ".join(c.name for c in allc)
            raise SystemExit(f"unknown case {tok!r}: use 'all', 'scale', 1-5, one of "
                             f"{', '.join(KEYS + SCALE_KEYS)} or {names}")
        for c in picked:
            if n is not None:
                c = make_case(c.key, n)
            if c not in out:
                out.append(c)
    return out


# ----------------------------------------------------------------------------------- data files
def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Floats with 6 decimals (the recipes round to 6 dp, so the file holds exactly the data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    df.to_csv(tmp, index=False, float_format="%.6f")
    tmp.replace(path)


def data_file(case: Case, data_dir: Path | None = None, work_dir: Path = WORK_DIR) -> tuple[Path, str]:
    """The CSV to fit and where it came from ('shared' R draws, or 'generated' by numpy)."""
    data_dir = DEFAULT_DATA_DIR if data_dir is None else Path(data_dir)
    if case.real_data:
        src = data_dir / f"{case.real_data}.csv"
        if not src.is_file():
            raise SystemExit(f"case {case.name} is fitted to {src}, which is missing (use --data-dir)")
        if case.derive is None:
            return src, "shared"
        p = Path(work_dir) / "data" / f"{case.name}.csv"
        write_csv(case.derive(pd.read_csv(src)), p)
        return p, "derived from shared"
    if case.shared_csv:  # (the R draws behind the lme4 baselines, where they are there)
        p = data_dir / f"{case.name}.csv"
        if p.is_file():
            return p, "shared"
    p = Path(work_dir) / "data" / f"{case.name}.csv"
    write_csv(case.recipe(case.n, case.seed), p)
    return p, "generated"


def categorize(case: Case, df: pd.DataFrame) -> pd.DataFrame:
    """Integer-coded grouping columns (and string factors) -> categorical, categories in numeric
    order of the codes (like R's factor()).  Done before timing, as the R script does."""
    df = df.copy()
    for g in case.groups:
        codes, uniq = pd.factorize(df[g], sort=True)
        df[g] = pd.Categorical.from_codes(codes, categories=[str(u) for u in uniq])
    for f in case.factors:
        col = df[f].astype(str)
        df[f] = pd.Categorical(col, categories=sorted(col.unique()))
    return df


def load_table(case: Case, path: Path) -> pd.DataFrame:
    """Read a case's CSV and make its grouping columns and factors categorical."""
    dtypes = {g: np.int64 for g in case.groups}
    dtypes.update({f: str for f in case.factors})
    return categorize(case, pd.read_csv(path, dtype=dtypes))
