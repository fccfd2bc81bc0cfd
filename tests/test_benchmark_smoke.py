"""Smoke test of the benchmark runner (benchmarks/run.py): a tiny generated case, in process, no R.

No timing assertion: this only checks that the runner works end to end and that its record holds
finite times and sensible estimates.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks import cases, run  # noqa: E402


def test_smoke_run_records(tmp_path):
    records = run.main(["--smoke", "--cases", "poisson_ri", "--n", "2000", "--in-process",
                        "--work-dir", str(tmp_path / "work"), "--out-dir", str(tmp_path / "out")])
    assert len(records) == 1
    rec = records[0]
    assert rec["case"] == "poisson_ri_n2000" and rec["n"] == 2000 and rec["method"] == "Laplace"
    assert rec["data"]["source"] == "generated"
    ours = rec["ours"]
    assert len(ours["times"]) == 1 and all(math.isfinite(t) and t > 0 for t in ours["times"])
    assert math.isfinite(ours["loglik"]) and ours["loglik"] < 0
    assert ours["budget_bytes"] > 0 and ours["rss_peak_bytes"] >= 0
    # estimates near the generating values (0.5, 0.3; random-intercept std 0.5; 200 groups)
    assert ours["beta"]["(Intercept)"] == pytest.approx(0.5, abs=0.2)
    assert ours["beta"]["x"] == pytest.approx(0.3, abs=0.08)
    assert ours["re"]["g:std:(Intercept)"] == pytest.approx(0.5, abs=0.2)
    assert rec["lme4"] is None and rec["compare"] == {}
    # reports written where asked, not over benchmarks/RESULTS.md
    assert (tmp_path / "out" / "RESULTS.md").read_text().startswith("# fitglme benchmark results")
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["records"][0]["ours"]["loglik"] == pytest.approx(ours["loglik"])


def test_recipes_shapes():
    si = cases.make_case("subject_item")
    df = si.recipe(si.n, si.seed)
    assert len(df) == 7584 and df["subj"].nunique() == 316 and df["item"].nunique() == 24
    assert not df.duplicated(["subj", "item"]).any()  # every subject x item pair exactly once
    ns = cases.gen_normal_slope(2000, 1)
    assert len(ns) == 2000 and ns["g"].nunique() == 20
    names = [c.name for c in cases.select_cases("all")]
    assert names == ["poisson_ri_n1e4", "poisson_ri_n1e5", "poisson_ri_n1e6", "binary_slope_n1e5_g1000",
                     "binary_crossed_n1e5_2000x100", "binary_crossed_n7584_316x24", "normal_slope_n1e5_g1000"]
    assert [c.name for c in cases.select_cases("1")] == names[:3]


def test_scale_cases_are_selectable_and_their_warm_up_data_have_the_model_columns():
    """The real-scale cases (issue 14) by key and as 'scale'; 'all' stays the baseline set."""
    picked = cases.select_cases("scale")
    assert [c.key for c in picked] == list(cases.SCALE_KEYS)
    for c in picked:
        small = cases.make_case(c.key, 2000)
        df = small.recipe(2000, 99)  # what the worker's warm-up fits
        assert len(df) == 2000
        for col in c.groups + ("y",):
            assert col in df.columns
    binary = cases.gen_insteval_binary(2000, 99)
    assert set(np.unique(binary["y"])) <= {0, 1}
    big = cases.gen_binary_crossed_big(20_000, 1)
    assert big["f1"].max() <= 10_000 and big["f2"].max() <= 1_000 and big["f1"].nunique() > 5_000
    g4 = cases.gen_gamma_block4(2000, 1)
    assert g4["g"].nunique() == 20 and (g4["y"] > 0).all()


def test_cases_read_the_shared_r_draws_when_they_are_there(tmp_path):
    """Cases 1-3 are fitted to ../shared/bench_data's CSV (the R draws behind the lme4 baselines)
    where it exists, and to the numpy recipe's draws otherwise (benchmarks/cases.py's docstring)."""
    case = cases.select_cases("poisson_ri_n1e4")[0]
    assert case.shared_csv
    shared = tmp_path / "shared"
    shared.mkdir()
    src = shared / f"{case.name}.csv"
    src.write_text("g,x,y\n1,0.5,2\n")
    assert cases.data_file(case, shared, tmp_path / "work") == (src, "shared")
    src.unlink()
    path, origin = cases.data_file(case, shared, tmp_path / "work")
    assert origin == "generated" and path.parent == tmp_path / "work" / "data" and path.is_file()
    own = cases.select_cases("normal_slope_n1e5_g1000")[0]  # (no shared CSV: always generated)
    (shared / f"{own.name}.csv").write_text("g,x,y\n")
    assert cases.data_file(own, shared, tmp_path / "work")[1] == "generated"
