"""What to write instead: hints added to a formula error for the forms a user of R (lme4) or of
CSV files writes first (docs/formula.md, "Errors that teach").

Each hint is computed only after the formula failed to parse, from the text and the table's
variable names, and says what to write in MATLAB's syntax (or which fitglme option replaces the
construct). Nothing here changes what parses.
"""
from __future__ import annotations

import re
from typing import Sequence

__all__ = ["formula_hints"]

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_DOUBLE_BAR = re.compile(r"\(([^()|]*)\|\|([^()|]*)\)")
_CBIND = re.compile(r"^\s*cbind\s*\(\s*([^,()]+?)\s*,\s*([^()]+?)\s*\)\s*~")
_ZERO = re.compile(r"(?<![\w.])0\s*\+|\+\s*0(?![\w.])")
_NESTED_GROUP = re.compile(r"\(([^()|]*)\|\s*([A-Za-z]\w*(?:\s*/\s*[A-Za-z]\w*)+)\s*\)")
_OFFSET = re.compile(r"\boffset\s*\(\s*([^()]+?)\s*\)")


def _safe_name(name: str) -> str:
    out = re.sub(r"\W+", "_", name).strip("_") or "x"
    return out if out[0].isalpha() else "x" + out


def _name_hints(text: str, names: Sequence[str]) -> list[str]:
    bad = [n for n in names if not _IDENT.match(n) and n in text]
    if not bad:
        return []
    mapping = ", ".join(f"{n!r}: {_safe_name(n)!r}" for n in bad)
    fixed = text
    for n in sorted(bad, key=len, reverse=True):
        fixed = fixed.replace(n, _safe_name(n))
    return [
        "Variable names in a formula must be MATLAB identifiers (a letter, then letters, digits "
        f"or underscores); the table's {', '.join(repr(n) for n in bad)} "
        f"{'is' if len(bad) == 1 else 'are'} not (R and CSV headers allow '.' and spaces). Rename "
        f"the columns first, tbl = tbl.rename(columns={{{mapping}}}), and write {fixed!r}."
    ]


def _double_bar_hints(text: str) -> list[str]:
    if not _DOUBLE_BAR.search(text):
        return []
    fixed = _DOUBLE_BAR.sub(lambda m: f"({m.group(1).strip()}|{m.group(2).strip()})", text)
    return [
        "'(x||g)' is lme4's syntax for uncorrelated random effects; MATLAB writes '(x|g)' with the "
        f"option CovariancePattern='Diagonal': write {fixed!r}, CovariancePattern='Diagonal' "
        "(with several random terms, a list with 'Diagonal' at the position of each such term, "
        "e.g. ['Diagonal', 'FullCholesky'])."
    ]


def _cbind_hints(text: str) -> list[str]:
    m = _CBIND.match(text)
    if not m:
        return []
    k, f = m.group(1), m.group(2)
    rest = text[m.end():].strip()
    return [
        f"'cbind({k}, {f})' is R's two-column binomial response (successes, failures); MATLAB's "
        "response is the proportion of successes with the number of trials as BinomialSize: "
        f"tbl['p'] = tbl['{k}'] / (tbl['{k}'] + tbl['{f}']), then fitglme(tbl, 'p ~ {rest}', "
        f"Distribution='Binomial', BinomialSize=tbl['{k}'] + tbl['{f}'])."
    ]


def _zero_hints(text: str) -> list[str]:
    if not _ZERO.search(text):
        return []
    fixed = re.sub(r"([~(]\s*)0(\s*\+)", r"\1-1\2", text)  # a sum starting with 0
    fixed = re.sub(r"\s*\+\s*0(?![\w.])", " - 1", fixed)    # '+ 0' later in a sum
    return [f"MATLAB removes the intercept with -1, not 0 + (R's form): write {fixed!r}."]


def _nested_group_hints(text: str) -> list[str]:
    if not _NESTED_GROUP.search(text):
        return []

    def expand(m: re.Match) -> str:
        terms = m.group(1).strip()
        parts = [p.strip() for p in m.group(2).split("/")]
        return " + ".join(f"({terms}|{':'.join(parts[:i])})" for i in range(1, len(parts) + 1))

    fixed = _NESTED_GROUP.sub(expand, text)
    return [
        "'(1|a/b)' (b nested in a) is not MATLAB syntax: give one random term per level of the "
        f"nesting, '(1|a) + (1|a:b)': write {fixed!r}."
    ]


def _offset_hints(text: str) -> list[str]:
    m = _OFFSET.search(text)
    if not m:
        return []
    return [
        f"'offset({m.group(1)})' is R's syntax; MATLAB gives the offset as an option: remove it from "
        f"the formula and pass Offset=tbl['{m.group(1)}'] (or Offset='{m.group(1)}')."
    ]


def formula_hints(text: str, variable_names: Sequence[str]) -> list[str]:
    """The hints that apply to a formula that failed to parse (possibly none)."""
    names = [str(n) for n in variable_names]
    return (_name_hints(text, names) + _double_bar_hints(text) + _cbind_hints(text)
            + _zero_hints(text) + _nested_group_hints(text) + _offset_hints(text))
