"""fitglme.io: MAT-files with tables (mat-io), and a model's results in .mat / JSON."""
from __future__ import annotations

import json
import math
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from fitglme import FitglmeError, fitglme, load_example
from fitglme.io import export_results, loadmat, results, results_json, savemat

if sys.version_info >= (3, 11):
    with warnings.catch_warnings():  # mat-io sets a pandas option that pandas 3 deprecates
        warnings.simplefilter("ignore")
        import matio  # noqa: F401 - the 'test' extra installs mat-io; a missing install must fail here
else:  # pragma: no cover - mat-io needs Python >= 3.11
    pytest.importorskip("matio")

FORMULA = "defects ~ 1 + newprocess + (1|factory)"


@pytest.fixture(scope="module")
def glme():
    return fitglme(load_example(), FORMULA, Distribution="Poisson", Exclude=[0, 4])


def mixed_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "y": [1.5, np.nan, 3.0, -2.25],
            "n": [1, 2, 3, 4],
            "g": pd.Categorical(["b", "a", "b", "c"], categories=["c", "b", "a"]),
            "o": pd.Categorical(["lo", "hi", "mid", "lo"], categories=["lo", "mid", "hi"], ordered=True),
            "s": ["x", "yy", None, "z z"],
            "flag": [True, False, True, False],
        }
    )


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("version", ["7", "7.3"])
@pytest.mark.parametrize("text", ["cellstr", "string"])
def test_table_round_trip(tmp_path, version, text):
    df = mixed_table()
    path = tmp_path / "t.mat"
    savemat(path, {"tbl": df}, version=version, text=text)
    back = loadmat(path)["tbl"]
    assert list(back.columns) == list(df.columns)
    assert len(back) == len(df)
    # double: values and NaN; integers become double (MATLAB's numeric default)
    np.testing.assert_array_equal(back["y"].to_numpy(), df["y"].to_numpy())
    assert back["n"].dtype == np.float64 and back["n"].tolist() == [1.0, 2.0, 3.0, 4.0]
    # categorical: MATLAB's category order, codes, ordinal
    assert isinstance(back["g"].dtype, pd.CategoricalDtype)
    assert back["g"].cat.categories.tolist() == ["c", "b", "a"]
    assert back["g"].astype(str).tolist() == ["b", "a", "b", "c"]
    assert not back["g"].cat.ordered
    assert back["o"].cat.categories.tolist() == ["lo", "mid", "hi"] and back["o"].cat.ordered
    # text: str values; missing -> '' in a cellstr, missing string in a string array
    vals = back["s"].tolist()
    assert vals[:2] == ["x", "yy"] and vals[3] == "z z"
    assert all(isinstance(v, str) for v in (vals[0], vals[1], vals[3]))
    if text == "cellstr":
        assert vals[2] == ""
    else:
        assert isinstance(vals[2], float) and math.isnan(vals[2])
    # logical
    assert back["flag"].dtype == bool and back["flag"].tolist() == [True, False, True, False]


def test_row_names_round_trip(tmp_path):
    df = pd.DataFrame({"x": [1.0, 2.0]}, index=["r1", "r2"])
    savemat(tmp_path / "r.mat", {"t": df})
    back = loadmat(tmp_path / "r.mat")["t"]
    assert back.index.tolist() == ["r1", "r2"]


def test_other_variables_round_trip(tmp_path):
    path = tmp_path / "v.mat"
    savemat(path, {"x": np.arange(3.0), "M": np.eye(2), "s": "hello", "k": 5, "b": True,
                   "names": ["a", "bc"], "S": {"a": 1.0, "txt": "t"}, "cat": pd.Categorical(["u", "v"])})
    v = loadmat(path)
    np.testing.assert_array_equal(v["x"], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(v["M"], np.eye(2))
    assert v["s"] == "hello"
    assert v["k"] == 5.0 and isinstance(v["k"], float)
    assert v["b"] is True or v["b"] == np.True_
    assert v["names"] == ["a", "bc"]
    assert v["S"] == {"a": 1.0, "txt": "t"}
    assert list(v["cat"]) == ["u", "v"]
    raw = loadmat(path, simplify=False)
    assert raw["x"].shape == (1, 3) and raw["M"].shape == (2, 2)
    only = loadmat(path, variable_names=["s"])
    assert list(only) == ["s"]


def test_fit_on_loaded_table_matches(tmp_path):
    mfr = load_example()
    savemat(tmp_path / "mfr.mat", {"mfr": mfr})
    back = loadmat(tmp_path / "mfr.mat")["mfr"]
    f = "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)"
    a = fitglme(mfr, f, Distribution="Poisson")
    b = fitglme(back, f, Distribution="Poisson")
    assert a.CoefficientNames == b.CoefficientNames
    np.testing.assert_allclose(b.Coefficients["Estimate"], a.Coefficients["Estimate"], rtol=0, atol=0)
    assert a.LogLikelihood == b.LogLikelihood


def test_cellstr_text_column_is_first_appearance_text(tmp_path):
    """A cellstr column (what readtable gives MATLAB) loads as str; levels in first-appearance order."""
    mfr = load_example()
    mfr["supplier"] = mfr["supplier"].astype(str)
    savemat(tmp_path / "m.mat", {"mfr": mfr}, text="cellstr")
    back = loadmat(tmp_path / "m.mat")["mfr"]
    assert not isinstance(back["supplier"].dtype, pd.CategoricalDtype)
    assert all(isinstance(v, str) for v in back["supplier"])
    g = fitglme(back, "defects ~ 1 + supplier + (1|factory)", Distribution="Poisson")
    assert g.CoefficientNames == ["(Intercept)", "supplier_C", "supplier_B"]  # A, C, B: first appearance


# ----------------------------------------------------------------------------- errors
def test_missing_matio_gives_pip_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matio", None)  # import matio -> ImportError
    with pytest.raises(FitglmeError) as err:
        savemat(tmp_path / "x.mat", {"x": 1.0})
    assert err.value.identifier == "fitglme:NoMatio"
    assert "pip install" in str(err.value) and "mat-io" in str(err.value)
    (tmp_path / "y.mat").write_bytes(b"")
    with pytest.raises(FitglmeError) as err:
        loadmat(tmp_path / "y.mat")
    assert err.value.identifier == "fitglme:NoMatio"


def test_json_export_needs_no_matio(tmp_path, monkeypatch, glme):
    monkeypatch.setitem(sys.modules, "matio", None)
    path = export_results(glme, tmp_path / "fit.json")
    assert json.loads(open(path).read())["Info"]["NumObservations"] == 98


@pytest.mark.parametrize(
    "call, ident",
    [
        (lambda p: savemat(p, {"1bad": 1.0}), "fitglme:BadMatName"),
        (lambda p: savemat(p, {"a b": 1.0}), "fitglme:BadMatName"),
        (lambda p: savemat(p, {"S": {"bad field": 1}}), "fitglme:BadMatName"),
        (lambda p: savemat(p, {"x": 1.0}, version="6"), "fitglme:BadOption"),
        (lambda p: savemat(p, {"x": 1.0}, text="char"), "fitglme:BadOption"),
        (lambda p: savemat(p, [1, 2]), "fitglme:BadMatValue"),
        (lambda p: savemat(p, {"t": pd.DataFrame({"m": ["a", 1.5]})}), "fitglme:BadMatValue"),
        (lambda p: loadmat(str(p) + ".missing"), "fitglme:BadFileName"),
        (lambda p: savemat(3, {"x": 1.0}), "fitglme:BadFileName"),
    ],
)
def test_errors(tmp_path, call, ident):
    with pytest.raises(FitglmeError) as err:
        call(tmp_path / "e.mat")
    assert err.value.identifier == ident


def test_not_a_mat_file(tmp_path):
    p = tmp_path / "junk.mat"
    p.write_bytes(b"this is not a MAT-file" * 20)
    with pytest.raises(FitglmeError) as err:
        loadmat(p)
    assert err.value.identifier == "fitglme:MatReadError"


# ----------------------------------------------------------------------------- results
def test_results_contents(glme):
    r = results(glme)
    assert set(r) == {"Info", "ModelCriterion", "Coefficients", "CovarianceParameters", "psi", "Fitted"}
    pd.testing.assert_frame_equal(r["Coefficients"], pd.DataFrame(glme.Coefficients).reset_index(drop=True))
    assert r["ModelCriterion"]["AIC"].iloc[0] == glme.ModelCriterion["AIC"].iloc[0]
    info = r["Info"]
    assert info["NumObservations"] == 98 and info["FitMethod"] == "MPL" and info["Distribution"] == "Poisson"
    assert info["Link"] == "Log" and info["Formula"] == "defects ~ 1 + newprocess + (1 | factory)"
    assert info["LogLikelihood"] == glme.LogLikelihood
    cov = r["CovarianceParameters"]
    assert cov["Group"].tolist() == ["factory", "Error"]
    assert cov["Name1"].tolist() == ["(Intercept)", "sqrt(Dispersion)"]
    assert cov["Estimate"].iloc[0] == pytest.approx(math.sqrt(glme.fit_state.result.psi[0][0, 0]), rel=1e-12)
    assert cov["Estimate"].iloc[1] == 1.0
    fit = r["Fitted"]
    assert fit.shape == (100, 2)
    assert fit["Conditional"].isna().tolist() == [i in (0, 4) for i in range(100)]
    np.testing.assert_array_equal(fit["Conditional"].to_numpy(), glme.fitted())
    assert "Fitted" not in results(glme, fitted=False)


def test_results_covariance_ci(glme):
    cov = results(glme, fitted=False, covariance_ci=True)["CovarianceParameters"]
    _, _, stats = glme.covarianceParameters()
    assert cov["Lower"].iloc[0] == pytest.approx(float(stats[0]["Lower"].iloc[0]))
    assert cov["Lower"].iloc[0] < cov["Estimate"].iloc[0] < cov["Upper"].iloc[0]
    assert cov["Lower"].iloc[1] == cov["Upper"].iloc[1] == 1.0


def test_export_json(tmp_path, glme):
    path = export_results(glme, tmp_path / "fit.json")
    data = json.loads(open(path, encoding="utf-8").read())
    assert sorted(data) == ["Coefficients", "CovarianceParameters", "Fitted", "Info", "ModelCriterion", "psi"]
    assert data["Coefficients"]["Name"] == glme.CoefficientNames
    assert data["Coefficients"]["Estimate"] == glme.Coefficients["Estimate"].tolist()  # exact floats
    assert data["ModelCriterion"]["LogLikelihood"] == [glme.LogLikelihood]
    cond = data["Fitted"]["Conditional"]
    assert cond[0] is None and cond[4] is None and cond[1] == glme.fitted()[1]  # NaN -> null
    assert data["CovarianceParameters"]["NumLevels"][1] is None
    assert json.loads(results_json(glme, fitted=False, indent=None)).keys() == data.keys() - {"Fitted"}


def test_export_mat(tmp_path, glme):
    path = export_results(glme, tmp_path / "fit.mat", covariance_ci=True)
    v = loadmat(path)
    assert set(v) == {"Info", "ModelCriterion", "Coefficients", "CovarianceParameters", "psi", "Fitted"}
    coef = v["Coefficients"]
    assert coef["Name"].tolist() == glme.CoefficientNames
    np.testing.assert_array_equal(coef["Estimate"].to_numpy(), glme.Coefficients["Estimate"].to_numpy())
    np.testing.assert_array_equal(coef["pValue"].to_numpy(), glme.Coefficients["pValue"].to_numpy())
    assert v["ModelCriterion"]["BIC"].iloc[0] == glme.ModelCriterion["BIC"].iloc[0]
    assert v["Info"]["NumObservations"] == 98.0 and v["Info"]["FitMethod"] == "MPL"
    assert v["Info"]["DispersionEstimated"] in (False, np.False_)
    cov = v["CovarianceParameters"]
    assert cov["Group"].tolist() == ["factory", "Error"] and "Lower" in cov
    assert v["Fitted"].shape == (100, 2)
    assert float(np.ravel(v["psi"])[0]) == pytest.approx(glme.fit_state.result.psi[0][0, 0], rel=1e-15)


def test_export_format_errors(tmp_path, glme):
    with pytest.raises(FitglmeError) as err:
        export_results(glme, tmp_path / "fit.txt")
    assert err.value.identifier == "fitglme:BadExportFormat"
    with pytest.raises(FitglmeError):
        export_results(glme, tmp_path / "fit.txt", format="csv")
    p = export_results(glme, tmp_path / "fit.txt", format="json", fitted=False)
    assert "Fitted" not in json.loads(open(p).read())
