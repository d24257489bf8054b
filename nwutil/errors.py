"""The root of the project's exceptions and the generic errors of the shared utilities.

Every error that nanowire-hil raises on purpose derives from :class:`NwhilError`, so a caller
(the command line, a notebook) can catch the whole project's errors at once. Each package refines
the generic classes into its own family:

==============================  ==================================  ===============================
generic (:mod:`nwutil`)         :mod:`nwphys`                       :mod:`hardware`, :mod:`nwmodel`
==============================  ==================================  ===============================
:class:`NwhilError`             ``NanowireError``                   ``HardwareError``, ``ModelError``
:class:`ArgumentError`          ``ValidationError``                 ``HardwareValidationError``,
                                                                    ``ModelValidationError``
:class:`FileError`              ``DeviceFileError``                 ``MeasurementFileError``
==============================  ==================================  ===============================

Argument errors also derive from :class:`ValueError`, so generic code that expects ``ValueError``
for invalid input keeps working.
"""

from __future__ import annotations

__all__ = ["ArgumentError", "FileError", "NwhilError"]


class NwhilError(Exception):
    """Root of every deliberate error raised by nanowire-hil."""


class ArgumentError(NwhilError, ValueError):
    """A public argument is out of its allowed range or of the wrong kind (the default error of
    :mod:`nwutil.validation`)."""


class FileError(NwhilError):
    """A file is missing, truncated, foreign, locked or would be overwritten (the default error of
    :mod:`nwutil.hdf5` and :mod:`nwutil.fileio`)."""
