"""nwutil: the utilities every package of nanowire-hil shares (it imports none of them).

- :mod:`nwutil.errors`: the root of every deliberate error of the project
  (:class:`~nwutil.errors.NwhilError`) and the generic argument and file errors that the
  packages' own error families refine;
- :mod:`nwutil.validation`: argument checks, parametrised by the exception class;
- :mod:`nwutil.fileio`: atomic writes, one-writer output locks, JSON encoding of numpy values;
- :mod:`nwutil.hdf5`: the conventions of every HDF5 file the project writes;
- :mod:`nwutil.lazy`: lazy package exports and the old module paths that keep working.

Dependencies point one way: ``nwhil -> nwmodel -> hardware -> nwphys -> nwutil``.
"""

from __future__ import annotations

from nwutil.lazy import lazy_exports

#: The package version of nanowire-hil, defined here only (``pyproject.toml`` reads it; code reads
#: it through :func:`nwutil.hdf5.package_version`; ``nwphys.__version__`` is the same string).
__version__ = "0.5.0"

#: submodule -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "errors": ("ArgumentError", "FileError", "NwhilError"),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, submodules=("fileio", "hdf5", "validation"))
