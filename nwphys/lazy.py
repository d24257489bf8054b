"""Lazy package exports: a package's public names are imported from its submodules on first use.

``import nwphys`` (or ``hardware``, ``nwmodel``) then costs only the package itself; the
submodule that defines a name (and whatever it imports: scipy, h5py, sklearn, torch) loads the
first time the name is read. ``from nwphys import generate`` and ``nwphys.generate`` behave as
with eager imports. Every package of this project builds its namespace with :func:`lazy_exports`.

Examples
--------
The ``__init__.py`` of a package ``mypkg`` whose ``solvers`` submodule defines ``solve``:

.. code-block:: python

    from nwphys.lazy import lazy_exports

    _EXPORTS = {"solvers": ("solve",)}
    __all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, submodules=("plotting",))

``mypkg.solve`` then imports ``mypkg.solvers`` on first use, and ``mypkg.plotting`` is reachable
without an explicit import.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, Iterable[str]], submodules: Iterable[str] = ()
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """Build ``__all__``, ``__getattr__`` and ``__dir__`` for a package with lazy exports.

    Parameters
    ----------
    package : str
        Dotted name of the package (its ``__name__``).
    exports : mapping of str to iterable of str
        ``submodule -> names`` it defines that the package re-exports.
    submodules : iterable of str
        Further submodules reachable as package attributes (``nwphys.devicefile``) without an
        explicit import.

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

    def getattr_(name: str) -> Any:
        mod = where.get(name)
        if mod is not None:
            value = getattr(importlib.import_module(f"{package}.{mod}"), name)
            setattr(sys.modules[package], name, value)
            return value
        if name in known_modules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return sorted(where), getattr_, dir_
