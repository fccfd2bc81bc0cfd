"""The kbstat MATLAB outputs of reference_outputs/matlab/kbstat/: call, data, display, anova.

Each ``kbstat_<name>.txt`` holds a provenance header (the MATLAB call reconstructed from
kbstat.m, the data file, the number format), MATLAB's display verbatim below a dashed line and
MATLAB's ``anova(glme)`` at full precision in ``#   Term DF1 DF2 F p`` lines.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from fitglme import fitglme
from fitglme.readtable import read_table

KBSTAT = Path(__file__).resolve().parent.parent / "reference_outputs" / "matlab" / "kbstat"
CASES = sorted(p.stem[len("kbstat_"):] for p in KBSTAT.glob("kbstat_*.txt"))
_DASHES = "# " + "-" * 105 + "\n"
_CALL = re.compile(r"^#\s+glme = fitglme\(Data, '([^']+)', (.*?)\)(?:\s+%.*)?$", re.M)
_ANOVA = re.compile(r"^#   (\S+)\t(\d+)\t(\d+)\t(\S+)\t(\S+)$", re.M)
_MARKUP = re.compile(r"</?strong>")


@dataclass(frozen=True)
class KbstatCase:
    name: str
    formula: str
    options: tuple  # MATLAB's name-value pairs, in the order of the call
    data_file: Path
    sorted_categorical: bool  # kbstat.m of that era made the IVs and the subject categorical(...)
    long_format: bool  # the display was printed under 'format long g'
    text: str  # everything below the header (kbstat's lines and MATLAB's display)
    anova: tuple  # (Term, DF1, DF2, F, p) with F and p the stored doubles

    def matlab_display(self) -> list[str]:
        """MATLAB's display lines, from the heading to the end of the Error table, markup removed."""
        lines = _MARKUP.sub("", self.text).split("\n")
        i = next(k for k, ln in enumerate(lines) if ln.startswith("Generalized linear mixed-effects model"))
        j = next(k for k in range(i, len(lines)) if lines[k].startswith("Group: Error"))
        return lines[i:j + 3]  # the Error title, its header and its row


def load(name: str) -> KbstatCase:
    raw = (KBSTAT / f"kbstat_{name}.txt").read_text(encoding="utf-8")
    header, text = raw.split(_DASHES, 1)
    call = _CALL.search(header)
    assert call, f"{name}: no MATLAB call in the header"
    options = tuple(a.strip().strip("'") for a in call.group(2).split(","))
    data = re.search(r"copied beside this file: data/(\S+?)\)", header).group(1)
    anova = tuple((t, int(d1), int(d2), float(f), float(p)) for t, d1, d2, f, p in _ANOVA.findall(raw))
    return KbstatCase(name, call.group(1), options, KBSTAT / "data" / data,
                      "categorical(...)" in header, "format long g." in header, text.split("\n# ---")[0], anova)


def table(case: KbstatCase) -> pd.DataFrame:
    """The fitted table as MATLAB had it: text columns stay text (first-appearance level order, as
    kbstat's string arrays); in the older era every predictor and the subject are categorical with
    sorted categories (kbstat.m called categorical(...) on them)."""
    df = read_table(case.data_file)
    if case.sorted_categorical:
        response = case.formula.split("~")[0].strip()
        for col in df.columns:
            if col != response:
                df[col] = pd.Categorical(df[col], categories=sorted(df[col].unique()))
    return df


@lru_cache(maxsize=None)
def fit(name: str):
    case = load(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary and link-domain warnings (kbstat's models)
        return fitglme(table(case), case.formula, *case.options)
