"""The docs cannot drift from the code.

* Every ```python block of docs/migration.md and README.md is executed, in order, in one
  namespace per file; every ```pycon block is run as a doctest (outputs compared); every
  ``python -m fitglme ...`` line of a ```sh block is run through the command line afterwards
  (exit status 0, or the one named by a trailing ``# exit N``).
* docs/api.md is what docs/gen_api.py generates (run ``python docs/gen_api.py`` after changing a
  docstring or a public name).
* Every public name (``fitglme.__all__``, ``fitglme.io.__all__``, ``fitglme.compare_matlab.__all__``)
  has a docstring with an ``Examples`` section, and those examples pass.
* The README links the migration guide, the API reference and the fit-methods page.
"""
from __future__ import annotations

import contextlib
import doctest
import importlib.util
import inspect
import io
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", re.S | re.M)


def _gen_api():
    spec = importlib.util.spec_from_file_location("gen_api", DOCS / "gen_api.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fenced_blocks(path: Path) -> list[tuple[str, str, int]]:
    """``[(language, code, first line number)]`` of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    out = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start(2)) + 1
        out.append((m.group(1), m.group(2), line))
    return out


def run_markdown(path: Path) -> None:
    """Execute the examples of one Markdown file (see the module docstring)."""
    from fitglme.cli import main as cli_main

    ns: dict = {"__name__": f"docs_{path.stem}"}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    commands: list[tuple[str, int]] = []
    for lang, code, line in fenced_blocks(path):
        where = f"{path.name}:{line}"
        if lang == "python":
            exec(compile(code, where, "exec"), ns)  # noqa: S102 - the documentation's own code
        elif lang == "pycon":
            test = parser.get_doctest(code, ns, where, str(path), line - 1)
            out = io.StringIO()
            result = runner.run(test, out=out.write, clear_globs=False)
            assert result.failed == 0, f"doctest failed in {where}:\n{out.getvalue()}"
            ns.update(test.globs)  # DocTest works on a copy: keep what the session defined
        elif lang == "sh":
            for k, cmd in enumerate(code.splitlines()):
                if cmd.strip().startswith("python -m fitglme"):
                    commands.append((cmd, line + k))
    for cmd, line in commands:
        m = re.search(r"#\s*exit\s+(\d+)\s*$", cmd)
        expected = int(m.group(1)) if m else 0
        argv = shlex.split(cmd, comments=True)[3:]
        buf, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = cli_main(argv, out=buf)
        assert rc == expected, (f"{path.name}:{line}: {cmd!r} exited {rc}, expected {expected}\n"
                                f"{buf.getvalue()[-2000:]}\n{err.getvalue()[-2000:]}")
        assert buf.getvalue().strip(), f"{path.name}:{line}: {cmd!r} printed nothing"


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path


def test_migration_guide_examples_run(in_tmp):
    path = DOCS / "migration.md"
    langs = [lang for lang, _, _ in fenced_blocks(path)]
    assert langs.count("python") >= 5 and langs.count("pycon") >= 5
    import matplotlib  # noqa: F401 - in the 'test' extra: a missing install fails here

    run_markdown(path)
    # the files the guide writes on the way
    for name in ("mfr.mat", "mfr.csv", "fit_python.mat", "fit_python.json", "matlab_output.txt", "fit.mat"):
        assert (in_tmp / name).exists(), name


def test_readme_examples_run(in_tmp):
    run_markdown(ROOT / "README.md")


def test_migration_guide_covers_every_option_and_method():
    import fitglme
    from fitglme.api import OPTION_NAMES

    text = (DOCS / "migration.md").read_text(encoding="utf-8")
    missing_options = [o for o in OPTION_NAMES if f"'{o}'" not in text]
    assert not missing_options, f"options without a MATLAB -> Python row: {missing_options}"
    methods = [n for n in fitglme.__all__ if n[0].islower() and n != "fitglme" and n != "load_example"]
    missing = [m for m in methods if f"{m}(" not in text]
    assert not missing, f"methods not shown side by side: {missing}"
    for topic in ("0-based", "NamedTuple", "pandas", "display_style", "display_width", "fit_methods.md",
                  "api.md", "export_results", "validate"):
        assert topic in text, topic


def test_docs_links_resolve():
    for path in [ROOT / "README.md", *DOCS.glob("*.md")]:
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", text):
            assert (path.parent / target).exists(), f"{path.name} links to missing {target}"


def test_readme_links_the_migration_docs():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in ("docs/migration.md", "docs/api.md", "docs/fit_methods.md"):
        assert f"]({target}" in text, f"README.md does not link {target}"


def test_api_reference_is_current():
    gen = _gen_api()
    expected = gen.render()
    current = (DOCS / "api.md").read_text(encoding="utf-8")
    assert current == expected, "docs/api.md is stale: run  python docs/gen_api.py"


def _public():
    gen = _gen_api()
    return [(m, n) for m, n, _ in gen.public_objects()]


@pytest.mark.parametrize("module,name", _public())
def test_public_name_has_docstring_with_example(module, name):
    obj = getattr(importlib.import_module(module), name)
    doc = inspect.getdoc(obj)
    assert doc and doc.strip(), f"{module}.{name} has no docstring"
    m = re.search(r"^Examples\n-{8,}\n(.*?)(?=^\w[\w ]*\n-{3,}\n|\Z)", doc, re.S | re.M)
    assert m and ">>>" in m.group(1), f"{module}.{name}: the docstring has no 'Examples' section with a >>> example"


@pytest.mark.parametrize("module,name", _public())
def test_public_docstring_examples_pass(module, name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    obj = getattr(importlib.import_module(module), name)
    home = sys.modules.get(getattr(obj, "__module__", module)) or importlib.import_module(module)
    finder = doctest.DocTestFinder(recurse=False)
    tests = finder.find(obj, f"{module}.{name}", module=False, globs=dict(vars(home)))
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    out = io.StringIO()
    for t in tests:
        runner.run(t, out=out.write)
    assert runner.failures == 0, out.getvalue()


#: What a reader of the repository cannot follow: documents outside it, a development machine's
#: paths, notes addressed to the developers, and an install command that does not work.
_FOREIGN = re.compile(r"SPEC ?§|SPEC section|SPEC\.md|DISPLAY\.md|ENGINE\.md|/work/|the issue|[Nn]otes for the lead"
                      r"|pip install fitglme\b|pip install \"fitglme\[[^]]*\]\"")


def test_docs_and_code_refer_only_to_the_repository():
    files = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"] + sorted((ROOT / "fitglme").rglob("*.py")) \
        + sorted((ROOT / "benchmarks").glob("*.py")) + [ROOT / "benchmarks" / "RESULTS.md"]
    hits = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
            for p in files for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if _FOREIGN.search(line)]
    assert not hits, "\n".join(hits)


def test_install_instructions_name_what_works():
    text = (DOCS / "migration.md").read_text(encoding="utf-8")
    section = text[text.index("## 1. Install"):text.index("## 2.")]
    assert "python -m pip install ." in section and 'python -m pip install ".[plot]"' in section
