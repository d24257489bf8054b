"""Lazy package exports: a package's public names are imported from its submodules on first use.

``import nwphys`` (or ``hardware``, ``nwmodel``) then costs only the package itself; the
submodule that defines a name (and whatever it imports: scipy, h5py, sklearn, torch) loads the
first time the name is read. ``from nwphys import generate`` and ``nwphys.generate`` behave as
with eager imports. Every package of this project builds its namespace with :func:`lazy_exports`.

Examples
--------
The ``__init__.py`` of a package ``mypkg`` whose ``solvers`` submodule defines ``solve``:

.. code-block:: python

    from nwutil.lazy import lazy_exports

    _EXPORTS = {"solvers": ("solve",)}
    __all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, submodules=("plotting",))

``mypkg.solve`` then imports ``mypkg.solvers`` on first use, and ``mypkg.plotting`` is reachable
without an explicit import.

Moved modules: ``lazy_exports(..., moved={"solvers": "mypkg.numerics.solvers"})`` keeps the old
path working. ``import mypkg.solvers``, ``from mypkg.solvers import solve`` and the attribute
``mypkg.solvers`` give the module at its new path (the same module object, so classes, pickles and
``isinstance`` agree), with a :class:`DeprecationWarning` naming the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports", "moved_modules"]


def lazy_exports(
    package: str,
    exports: Mapping[str, Iterable[str]],
    submodules: Iterable[str] = (),
    *,
    moved: Mapping[str, str] | None = None,
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """Build ``__all__``, ``__getattr__`` and ``__dir__`` for a package with lazy exports.

    Parameters
    ----------
    package : str
        Dotted name of the package (its ``__name__``).
    exports : mapping of str to iterable of str
        ``submodule -> names`` it defines that the package re-exports.
    submodules : iterable of str
        Further submodules reachable as package attributes without an explicit import.
    moved : mapping of str to str, optional
        ``old submodule name -> new dotted module path`` of modules that moved: the old path
        keeps working (see :func:`moved_modules`).

    Returns
    -------
    all_names : list of str
        Every exported name, sorted (the package's ``__all__``).
    getattr_ : callable
        Module ``__getattr__`` (PEP 562): imports the defining submodule, caches the value on
        the package and returns it; ``AttributeError`` for unknown names.
    dir_ : callable
        Module ``__dir__``: the package's globals plus the exports.
    """
    if any(isinstance(names, str) for names in exports.values()):
        raise TypeError("exports must map each submodule to a tuple of names, not to one string")
    where = {name: mod for mod, names in exports.items() for name in names}
    known_modules = set(exports) | set(submodules)
    moved = dict(moved or {})
    if moved:
        moved_modules({f"{package}.{old}": new for old, new in moved.items()})

    def getattr_(name: str) -> Any:
        mod = where.get(name)
        if mod is not None:
            value = getattr(importlib.import_module(f"{package}.{mod}"), name)
            setattr(sys.modules[package], name, value)
            return value
        if name in moved:  # warn once: the module is then an attribute and in sys.modules
            warnings.warn(_moved_message(f"{package}.{name}", moved[name]), DeprecationWarning, stacklevel=2)
            module = importlib.import_module(moved[name])
            sys.modules.setdefault(f"{package}.{name}", module)
            setattr(sys.modules[package], name, module)
            return module
        if name in known_modules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return sorted(where), getattr_, dir_


def _moved_message(old: str, new: str) -> str:
    return f"{old} moved to {new}; import it from there (the old path keeps working)"


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds each old module path and loads it as the module at its new path."""

    def __init__(self) -> None:
        self.moved: dict[str, str] = {}
        self._specs: dict[int, Any] = {}

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        new = self.moved.get(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=new)

    def create_module(self, spec: Any) -> Any:
        new = self.moved[spec.name]
        warnings.warn(_moved_message(spec.name, new), DeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        self._specs[id(module)] = module.__spec__  # the import system overwrites it: restored below
        return module

    def exec_module(self, module: Any) -> None:
        module.__spec__ = self._specs.pop(id(module), module.__spec__)


_FINDER = _MovedModuleFinder()


def moved_modules(moved: Mapping[str, str]) -> None:
    """Keep old module paths importable as the modules at their new paths.

    Parameters
    ----------
    moved : mapping of str to str
        ``old dotted path -> new dotted path``. ``import old`` (and ``from old import name``)
        then gives the module at ``new`` itself, under both names in :data:`sys.modules`, with a
        :class:`DeprecationWarning` naming the new path. Nothing is imported until an old path is.
    """
    _FINDER.moved.update({str(k): str(v) for k, v in moved.items()})
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
