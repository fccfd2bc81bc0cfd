"""One rule for every per-row vector option (docs/migration.md, "Per-row vectors").

* a numpy array or a list is read by position;
* a pandas Series is aligned on the table's row labels (reordered when it carries the same labels
  in another order); labels that differ from the table's are an error;
* Exclude: a boolean mask, 0-based integer positions, or a pandas Index of row labels; a 0/1
  integer vector of length N is an error asking for a boolean mask, and integer positions for a
  table whose integer labels are not 0..N-1 are an error.

Each check compares two fits of ours that must be the same model (the aligned form against the
positional form of the same vector), so the tolerance is rounding: rtol 1e-10.
"""
from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest

from fitglme import FitglmeError, fitglme, load_example, predict, random

F = "defects ~ 1 + newprocess + (1|factory)"
RTOL = 1e-10  # the same fit twice: rounding only


@contextlib.contextmanager
def raises(identifier, *fragments):
    with pytest.raises(FitglmeError) as info:
        yield info
    assert info.value.identifier == identifier, info.value.identifier
    for frag in fragments:
        assert frag in str(info.value), (frag, str(info.value))


@pytest.fixture(scope="module")
def mfr():
    return load_example()


@pytest.fixture(scope="module")
def binom():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(12), 8)
    x = rng.normal(size=g.size)
    n = rng.integers(5, 15, g.size)
    p = 1 / (1 + np.exp(-(0.3 + 0.8 * x + rng.normal(0, 0.7, 12)[g])))
    k = rng.binomial(n, p)
    return pd.DataFrame({"y": k / n, "x": x, "g": pd.Categorical(g), "n": n.astype(float)})


def coefs(m):
    return m.Coefficients["Estimate"].to_numpy()


def shuffled(s: pd.Series, seed=0) -> pd.Series:
    return s.iloc[np.random.default_rng(seed).permutation(len(s))]


# ---------------------------------------------------------------- Exclude
def test_exclude_01_integer_vector_is_an_error(mfr):
    flag = np.zeros(len(mfr), dtype=int)
    flag[[10, 20, 30]] = 1
    with raises("fitglme:BadExclude", "0/1 integer vector", "boolean mask"):
        fitglme(mfr, F, Distribution="Poisson", Exclude=flag)
    with raises("fitglme:BadExclude", "boolean mask"):
        fitglme(mfr, F, Distribution="Poisson", Exclude=pd.Series(flag))
    # what the message says to write
    m = fitglme(mfr, F, Distribution="Poisson", Exclude=flag == 1)
    assert m.NumObservations == len(mfr) - 3
    assert m.ObservationInfo["Excluded"].to_numpy().nonzero()[0].tolist() == [10, 20, 30]


def test_exclude_positions_on_a_filtered_table_is_an_error(mfr):
    sub = mfr[mfr["time_dev"] > mfr["time_dev"].min()]  # labels 0..99 minus one: not 0..N-1
    assert not sub.index.equals(pd.RangeIndex(len(sub)))
    with raises("fitglme:BadExclude", "pandas Index", "reset_index"):
        fitglme(sub, F, Distribution="Poisson", Exclude=[sub.index[3], sub.index[4]])


def test_exclude_labels_boolean_series_and_mask_agree(mfr):
    sub = mfr.iloc[5:].copy()  # labels 5..99
    mask = np.zeros(len(sub), bool)
    mask[[0, 7]] = True
    base = fitglme(sub, F, Distribution="Poisson", Exclude=mask)
    by_label = fitglme(sub, F, Distribution="Poisson", Exclude=sub.index[mask])
    by_series = fitglme(sub, F, Distribution="Poisson", Exclude=shuffled(pd.Series(mask, index=sub.index)))
    for m in (by_label, by_series):
        np.testing.assert_allclose(coefs(m), coefs(base), rtol=RTOL)
        assert m.ObservationInfo.index[m.ObservationInfo["Excluded"]].tolist() == [5, 12]
    # the same positions once the labels are reset
    reset = fitglme(sub.reset_index(drop=True), F, Distribution="Poisson", Exclude=[0, 7])
    np.testing.assert_allclose(coefs(reset), coefs(base), rtol=RTOL)


def test_exclude_series_or_index_with_foreign_labels_is_an_error(mfr):
    with raises("fitglme:BadExclude", "row labels", "label 0 is missing"):
        fitglme(mfr, F, Distribution="Poisson", Exclude=pd.Series(np.zeros(len(mfr), bool), index=np.arange(1, 101)))
    with raises("fitglme:BadExclude", "not a row label", "500"):
        fitglme(mfr, F, Distribution="Poisson", Exclude=pd.Index([3, 500]))


# ---------------------------------------------------------------- Weights, Offset, BinomialSize, MuStart
@pytest.mark.parametrize("option", ["Weights", "Offset", "MuStart"])
def test_poisson_vector_series_aligned_on_labels(mfr, option):
    rng = np.random.default_rng(1)
    values = {"Weights": rng.integers(1, 4, len(mfr)).astype(float),
              "Offset": rng.uniform(0, 0.5, len(mfr)),
              "MuStart": rng.uniform(2, 8, len(mfr))}[option]
    tbl = mfr.set_axis(np.arange(100, 100 + len(mfr)))  # labels not positions
    s = pd.Series(values, index=tbl.index)
    base = fitglme(tbl, F, Distribution="Poisson", **{option: values})
    aligned = fitglme(tbl, F, Distribution="Poisson", **{option: shuffled(s)})
    np.testing.assert_allclose(coefs(aligned), coefs(base), rtol=RTOL)
    with raises(f"fitglme:Bad{option}", option, "row labels"):
        fitglme(tbl, F, Distribution="Poisson", **{option: pd.Series(values)})  # labels 0..99


def test_binomial_size_series_aligned_on_labels(binom):
    tbl = binom.set_axis([f"r{i}" for i in range(len(binom))])
    n = pd.Series(tbl["n"].to_numpy(), index=tbl.index)
    base = fitglme(tbl, "y ~ x + (1|g)", Distribution="Binomial", BinomialSize=tbl["n"].to_numpy())
    aligned = fitglme(tbl, "y ~ x + (1|g)", Distribution="Binomial", BinomialSize=shuffled(n))
    np.testing.assert_allclose(coefs(aligned), coefs(base), rtol=RTOL)
    with raises("fitglme:BadBinomialSize", "BinomialSize", "'r0' is missing"):
        fitglme(tbl, "y ~ x + (1|g)", Distribution="Binomial", BinomialSize=pd.Series(n.to_numpy()))


# ---------------------------------------------------------------- methods: predict and random
def test_predict_offset_series_aligned_on_new_table(mfr):
    m = fitglme(mfr, F, Distribution="Poisson")
    new = mfr.iloc[[4, 9, 2]]
    off = np.array([0.1, 0.2, 0.3])
    base = predict(m, new, "Offset", off).ypred
    got = predict(m, new, "Offset", pd.Series(off, index=new.index).iloc[[2, 0, 1]]).ypred
    np.testing.assert_allclose(got, base, rtol=RTOL)
    with raises("fitglme:BadOffset", "row labels"):
        predict(m, new, "Offset", pd.Series(off))


def test_random_vector_series_aligned_on_new_table(binom):
    m = fitglme(binom, "y ~ x + (1|g)", Distribution="Binomial", BinomialSize=binom["n"])
    new = binom.iloc[[5, 1, 30]]
    size = np.array([3.0, 40.0, 7.0])
    off = np.array([0.0, 1.0, -1.0])
    w = np.array([1.0, 2.0, 3.0])
    base = random(m, new, "BinomialSize", size, "Offset", off, "Weights", w, seed=4)
    perm = [1, 2, 0]
    got = random(m, new, "BinomialSize", pd.Series(size, index=new.index).iloc[perm],
                 "Offset", pd.Series(off, index=new.index).iloc[perm],
                 "Weights", pd.Series(w, index=new.index).iloc[perm], seed=4)
    np.testing.assert_array_equal(got, base)
    for name, v in (("BinomialSize", size), ("Offset", off), ("Weights", w)):
        with raises(f"fitglme:Bad{name}", "row labels"):
            random(m, new, name, pd.Series(v), seed=4)
