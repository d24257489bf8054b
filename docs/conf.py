"""Sphinx configuration of the nanowire-hil documentation (``make docs``).

The API pages are written here from each package's ``__all__`` (into ``docs/api/``, not tracked),
so the reference follows the exports without a hand-kept list. The examples gallery reads a
staged copy of ``examples/*.py`` and never executes them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import shutil
import sys
from pathlib import Path

from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

import nwphys  # noqa: E402

project = "nanowire-hil"
author = "nanowire-hil developers"
copyright = "nanowire-hil developers"
release = nwphys.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_templates", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

html_theme = "alabaster"
html_title = f"nanowire-hil {release}"
html_theme_options = {"page_width": "1280px", "sidebar_width": "240px", "fixed_sidebar": True}
html_static_path: list[str] = []

# -- autodoc / autosummary / numpydoc -------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False

# -- MyST (the design and results pages are Markdown) ---------------------------------------------
myst_enable_extensions = ["deflist"]
myst_heading_anchors = 3

# -- examples gallery: a staged copy of examples/*.py, never executed ----------------------------
GALLERY_SRC = DOCS / "_build" / "gallery_src"
GALLERY_HEADER = """\
Examples
========

Runnable scripts from ``examples/`` (the test suite runs them). They are shown here, not run
during the documentation build; run one with ``.venv/bin/python examples/NAME.py``.
"""


def _stage_examples() -> None:
    """Copy ``examples/*.py`` beside a gallery header (the examples folder holds no header)."""
    if GALLERY_SRC.exists():
        shutil.rmtree(GALLERY_SRC)
    GALLERY_SRC.mkdir(parents=True)
    (GALLERY_SRC / "GALLERY_HEADER.rst").write_text(GALLERY_HEADER, encoding="utf-8")
    for script in sorted((ROOT / "examples").glob("*.py")):
        (GALLERY_SRC / script.name).write_text(_titled(script.read_text(encoding="utf-8")), encoding="utf-8")


def _titled(source: str) -> str:
    """The script with its docstring's first paragraph made an RST title (the gallery's page title)."""
    module = ast.parse(source)
    doc = ast.get_docstring(module, clean=True)
    if not doc or not isinstance(module.body[0], ast.Expr):
        return source
    first, _, rest = doc.partition("\n\n")
    if any(set(line.strip()) <= set("=-~^") and line.strip() for line in first.splitlines()[1:]):
        return source  # already titled
    title = " ".join(first.split()).rstrip(".")
    new_doc = f"{title}\n{'=' * len(title)}\n\n{rest}".rstrip() + "\n"
    lines = source.splitlines(keepends=True)
    node = module.body[0]
    head, tail = "".join(lines[: node.lineno - 1]), "".join(lines[node.end_lineno :])
    return f'{head}r"""{new_doc}"""\n{tail}'


_stage_examples()

sphinx_gallery_conf = {
    "examples_dirs": str(GALLERY_SRC.relative_to(DOCS)),
    "gallery_dirs": "gallery",
    "plot_gallery": "False",
    "filename_pattern": r"^$",  # nothing runs even with plot_gallery on
    "image_scrapers": (),
    "write_computation_times": False,
    "download_all_examples": False,
    "remove_config_comments": True,
}

# -- API pages from __all__ ------------------------------------------------------------------------
API_PACKAGES = ("nwphys", "hardware", "nwmodel", "nwutil")
API_DIR = DOCS / "api"


def _data_comment(package: str, name: str, value: object) -> list[str]:
    """The ``#:`` comment of an exported constant, from the module that assigns it.

    The submodule that ``_EXPORTS`` names is tried first, then every loaded module of the three
    packages that holds the same object (a constant re-exported from a private module).
    """
    exports = getattr(importlib.import_module(package), "_EXPORTS", {})
    first = [f"{package}.{sub}" for sub, names in exports.items() if name in names]
    rest = sorted(m for m in list(sys.modules) if m.split(".")[0] in API_PACKAGES)
    for mod_name in first + rest:
        module = importlib.import_module(mod_name)
        if getattr(module, name, None) is not value:
            continue
        try:
            docs = ModuleAnalyzer.for_module(mod_name).find_attr_docs()
        except PycodeError:
            continue
        if ("", name) in docs:
            return [line for line in docs[("", name)] if line is not None]
    return []


def _groups(package: str) -> list[tuple[str, list[str]]]:
    """``[(submodule, names)]`` in ``__all__``; by defining submodule where the package says."""
    pkg = importlib.import_module(package)
    exported = list(pkg.__all__)
    exports = getattr(pkg, "_EXPORTS", None)
    if not exports:
        return [("", exported)]
    groups = [(sub, [n for n in names if n in exported]) for sub, names in exports.items()]
    listed = {n for _, names in groups for n in names}
    rest = [n for n in exported if n not in listed]
    if rest:
        groups.append(("", rest))
    return [(sub, sorted(names)) for sub, names in groups if names]


def _write_api_page(package: str) -> None:
    pkg = importlib.import_module(package)
    lines = [
        f"``{package}``",
        "=" * (len(package) + 4),
        "",
        f".. automodule:: {package}",
        "   :no-members:",
        "",
    ]
    for sub, names in _groups(package):
        title = f"From ``{package}.{sub}``" if sub else "Other exports"
        lines += [title, "-" * len(title), ""]
        documented = []
        data = []
        for name in names:
            value = getattr(pkg, name)
            if inspect.isclass(value) or inspect.isroutine(value):
                documented.append(name)
            else:
                data.append((name, value))
        if documented:
            lines += [f".. currentmodule:: {package}", "", ".. autosummary::", "   :toctree: generated/", ""]
            lines += [f"   {name}" for name in documented]
            lines.append("")
        for name, value in data:
            lines += [f".. py:data:: {package}.{name}", ""]
            comment = _data_comment(package, name, value) or [f"A ``{type(value).__name__}``."]
            lines += [f"   {line}" if line else "" for line in comment]
            lines.append("")
    text = "\n".join(lines).rstrip() + "\n"
    path = API_DIR / f"{package}.rst"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


API_DIR.mkdir(exist_ok=True)
for _package in API_PACKAGES:
    _write_api_page(_package)


def _skip_foreign_member(app, what, name, obj, skip, options):
    """Skip members that a class inherits or receives from another library (sklearn's routing)."""
    module = getattr(obj, "__module__", None) or ""
    if what == "class" and module and module.split(".")[0] not in API_PACKAGES:
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_member)
