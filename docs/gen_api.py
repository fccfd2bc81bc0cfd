"""Generate docs/api.md from the numpy-style docstrings of fitglme's public names.

    python docs/gen_api.py            # rewrite docs/api.md
    python docs/gen_api.py --check    # exit 1 if docs/api.md is stale

Public names: ``fitglme.__all__``, then ``fitglme.io.__all__`` and ``fitglme.compare_matlab.__all__``.
tests/test_docs.py fails when docs/api.md differs from what this script writes, and when a public
name has no docstring or no ``Examples`` section with a ``>>>`` example.
"""
from __future__ import annotations

import importlib
import inspect
import re
import sys
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_MD = ROOT / "docs" / "api.md"

#: (module, heading, short description) in the order of the reference.
MODULES = (
    ("fitglme", "fitglme", "the model: `fitglme`, `GeneralizedLinearMixedModel` and its methods as functions"),
    ("fitglme.io", "fitglme.io", "MAT-files with tables, and a model's results for MATLAB"),
    ("fitglme.compare_matlab", "fitglme.compare_matlab", "compare a fit here with a pasted MATLAB display"),
)

_SECTION_NAMES = ("Parameters", "Returns", "Yields", "Raises", "Warns", "Attributes", "Notes", "Examples",
                  "See Also", "References", "Methods")
_ITEM_SECTIONS = ("Parameters", "Returns", "Yields", "Raises", "Warns", "Attributes")


def public_names(module_name: str) -> list[str]:
    """The names a module exports (its ``__all__``)."""
    mod = importlib.import_module(module_name)
    return list(getattr(mod, "__all__", []))


def public_objects() -> list[tuple[str, str, object]]:
    """``[(module, name, object)]`` for every public name, in reference order."""
    out = []
    for module_name, _, _ in MODULES:
        mod = importlib.import_module(module_name)
        for name in public_names(module_name):
            out.append((module_name, name, getattr(mod, name)))
    return out


def _rst_to_md(text: str) -> str:
    text = re.sub(r":(?:func|class|meth|mod|attr|data|exc|obj):`~?([^`]+)`", r"`\1`", text)
    text = text.replace("``", "`")
    return text


def _split_sections(doc: str) -> list[tuple[str, list[str]]]:
    lines = doc.split("\n")
    sections: list[tuple[str, list[str]]] = [("", [])]
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() in _SECTION_NAMES and nxt.strip() and set(nxt.strip()) == {"-"}:
            sections.append((line.strip(), []))
            i += 2
            continue
        sections[-1][1].append(line)
        i += 1
    return [(name, body) for name, body in sections if name or any(l.strip() for l in body)]


def _paragraphs(lines: list[str]) -> list[str]:
    """Prose lines to Markdown; indented literal blocks (after '::' or indented) become fenced code."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("    ") and line.strip():
            block = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                block.append(lines[i][4:] if lines[i].strip() else "")
                i += 1
            while block and not block[-1]:
                block.pop()
            lang = "pycon" if block and block[0].startswith(">>>") else "text"
            out += [f"```{lang}"] + block + ["```", ""]
            continue
        out.append(_rst_to_md(line.replace("::", ":") if line.rstrip().endswith("::") else line))
        i += 1
    return out


def _items(lines: list[str]) -> list[str]:
    """A numpy item list (``name : type`` then indented description) as a Markdown list."""
    out: list[str] = []
    cur: list[str] | None = None
    for line in lines:
        if not line.strip():
            if cur is not None:
                cur.append("")
            continue
        if not line.startswith(" "):
            if cur is not None:
                out.append(_finish_item(cur))
            cur = [line.strip()]
        elif cur is not None:
            cur.append(line.strip())
    if cur is not None:
        out.append(_finish_item(cur))
    return out


def _finish_item(parts: list[str]) -> str:
    head, desc = parts[0], " ".join(p for p in parts[1:] if p)
    if " : " in head:
        name, typ = head.split(" : ", 1)
        head_md = f"`{name.strip()}` : *{_rst_to_md(typ.strip())}*"
    else:
        head_md = f"`{head}`" if re.match(r"^[\w.*, ]+$", head) else f"*{_rst_to_md(head)}*"
    return f"- {head_md}" + (f": {_rst_to_md(desc)}" if desc else "")


def docstring_markdown(doc: str) -> list[str]:
    """A numpy-style docstring as Markdown lines."""
    out: list[str] = []
    for name, body in _split_sections(doc):
        while body and not body[0].strip():
            body = body[1:]
        while body and not body[-1].strip():
            body = body[:-1]
        if name:
            out += [f"**{name}**", ""]
        if name == "Examples":  # one doctest session, exactly as in the docstring
            out += ["```pycon"] + body + ["```", ""]
        elif name in _ITEM_SECTIONS:
            out += _items(body) + [""]
        else:
            out += _paragraphs(body) + [""]
    return out


def _signature(obj: object, name: str) -> str:
    try:
        sig = inspect.signature(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return name
    params = []
    for p in sig.parameters.values():
        p = p.replace(annotation=inspect.Parameter.empty)
        params.append(str(p))
    text = ", ".join(params)
    # keyword-only marker
    kinds = [p.kind for p in sig.parameters.values()]
    if inspect.Parameter.KEYWORD_ONLY in kinds and inspect.Parameter.VAR_POSITIONAL not in kinds:
        parts, inserted = [], False
        for p in sig.parameters.values():
            if p.kind == inspect.Parameter.KEYWORD_ONLY and not inserted:
                parts.append("*")
                inserted = True
            parts.append(str(p.replace(annotation=inspect.Parameter.empty)))
        text = ", ".join(parts)
    return f"{name}({text})"


def _anchor(module: str, name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", f"{module}-{name}".lower().replace(".", "-"))


def _first_line(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return _rst_to_md(doc.split("\n\n")[0].replace("\n", " ").strip())


def _class_members(cls: type) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(properties, methods) of a class, its fitglme mixins' included:
    ``[(name, first docstring line)]``."""
    members: dict = {}
    for base in reversed(cls.__mro__):
        if base.__module__.startswith("fitglme"):
            members.update(vars(base))
    props, methods = [], []
    for name in sorted(members):
        if name.startswith("_"):
            continue
        attr = members[name]
        if isinstance(attr, (property, cached_property)):
            props.append((name, _first_line(attr.fget if isinstance(attr, property) else attr.func)))
        elif inspect.isfunction(attr):
            methods.append((name, _first_line(attr)))
        elif isinstance(attr, (int, str, float)):
            props.append((name, f"class default `{attr!r}`"))
    return props, methods


def render() -> str:
    """The text of docs/api.md."""
    lines = [
        "# API reference",
        "",
        "Generated by `python docs/gen_api.py` from the numpy-style docstrings of every public name "
        "(`fitglme.__all__`, `fitglme.io.__all__`, `fitglme.compare_matlab.__all__`); do not edit by hand: "
        "`tests/test_docs.py` fails when this file is stale, and it runs every example below.",
        "For a MATLAB user's view (MATLAB call -> Python call) see [migration.md](migration.md).",
        "",
        "## Contents",
        "",
    ]
    objs = public_objects()
    for module, heading, desc in MODULES:
        names = [n for m, n, _ in objs if m == module]
        lines.append(f"- **{heading}**: {desc}. " + ", ".join(f"[`{n}`](#{_anchor(module, n)})" for n in names))
    lines.append("- **Command line**: [`python -m fitglme`](#command-line)")
    lines.append("")
    for module, heading, _desc in MODULES:
        mod = importlib.import_module(module)
        lines += [f"## {heading}", ""]
        mdoc = inspect.getdoc(mod) or ""
        lines += _paragraphs(mdoc.split("\n")) + [""]
        for m, name, obj in objs:
            if m != module:
                continue
            kind = "class" if inspect.isclass(obj) else "function"
            lines += [f'<a id="{_anchor(module, name)}"></a>', "",
                      f"### `{module}.{name}`" if kind == "function" else f"### class `{module}.{name}`", ""]
            if not (inspect.isclass(obj) and obj.__init__ is object.__init__):
                lines += ["```python", _signature(obj, f"{module}.{name}"), "```", ""]
            doc = inspect.getdoc(obj) or "(no docstring)"
            lines += docstring_markdown(doc)
            if inspect.isclass(obj) and obj.__module__.startswith("fitglme") and module == "fitglme":
                props, methods = _class_members(obj)
                if props:
                    lines += ["**Properties**", "", "| name | description |", "|---|---|"]
                    lines += [f"| `{n}` | {d.replace('|', '/')} |" for n, d in props] + [""]
                if methods:
                    lines += ["**Methods**", "", "| name | description |", "|---|---|"]
                    public = set(public_names("fitglme"))
                    for n, d in methods:
                        ref = f"[`{n}`](#{_anchor('fitglme', n)})" if n in public else f"`{n}`"
                        lines.append(f"| {ref} | {d.replace('|', '/')} |")
                    lines.append("")
    cli = importlib.import_module("fitglme.cli")
    lines += ['<a id="command-line"></a>', "", "## Command line", ""]
    lines += _paragraphs((inspect.getdoc(cli) or "").split("\n")) + [""]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"
    return text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        current = API_MD.read_text(encoding="utf-8") if API_MD.exists() else ""
        if current != text:
            print("docs/api.md is stale: run  python docs/gen_api.py", file=sys.stderr)
            return 1
        return 0
    API_MD.write_text(text, encoding="utf-8")
    print(f"wrote {API_MD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
