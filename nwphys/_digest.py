"""Exact content digests (SHA-256) of run inputs: drives, circuits, initial states.

The encoding is type-tagged and length-prefixed, so two values get the same digest only when they
are equal bit for bit: floats are hashed as their IEEE-754 binary64 bytes (``0.1`` and
``0.1 + 1e-17`` differ, ``-0.0`` and ``0.0`` differ), arrays as dtype, shape and little-endian
bytes, dataclasses as their class tag and every field. Python and numpy scalars of one kind
(``1.5`` and ``np.float64(1.5)``) hash alike.

The class tag of an object is its class's ``DIGEST_TAG`` string when it has one, else
``module.qualname``. Classes whose digests are stored (in run files: circuits and drive
waveforms) set ``DIGEST_TAG``, so that moving them to another module keeps every stored digest,
and a stored run still resumes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import types
from collections.abc import Mapping
from typing import Any

import numpy as np

from nwphys.errors import ValidationError

__all__ = ["class_tag", "sha256_of"]

# objects whose __dict__ does not describe their behaviour
_OPAQUE = (type, types.FunctionType, types.MethodType, types.BuiltinFunctionType, types.ModuleType)


def sha256_of(*objs: Any) -> str:
    """Hex SHA-256 of the exact content of ``objs``.

    Parameters
    ----------
    *objs
        None, bool, int, float, str, bytes, numpy scalars and arrays, and sequences, mappings,
        dataclass instances or plain objects (their ``__dict__``) built of these.

    Returns
    -------
    str
        64 hex digits.

    Raises
    ------
    ValidationError
        For a value that has no exact encoding (a function, an open file, ...), naming its type.
    """
    h = hashlib.sha256()
    for o in objs:
        _feed(h, o, depth=0)
    return h.hexdigest()


def class_tag(cls: type) -> str:
    """The name a class enters digests under: its own ``DIGEST_TAG``, else ``module.qualname``.

    Only a tag the class itself defines counts (a subclass does not inherit its base's).
    """
    tag = cls.__dict__.get("DIGEST_TAG")
    if tag is None:
        return f"{cls.__module__}.{cls.__qualname__}"
    if not isinstance(tag, str) or not tag:
        raise ValidationError(f"{cls.__qualname__}.DIGEST_TAG must be a non-empty str, got {tag!r}")
    return tag


def _bytes(h: Any, tag: bytes, payload: bytes) -> None:
    h.update(tag + struct.pack("<Q", len(payload)) + payload)


def _feed(h: Any, o: Any, depth: int) -> None:
    if depth > 64:
        raise ValidationError("cannot digest a value nested deeper than 64 levels (a cycle?)")
    if o is None:
        _bytes(h, b"N", b"")
    elif isinstance(o, (bool, np.bool_)):
        _bytes(h, b"B", b"1" if o else b"0")
    elif isinstance(o, (int, np.integer)):
        _bytes(h, b"I", str(int(o)).encode())
    elif isinstance(o, (float, np.floating)):
        _bytes(h, b"F", struct.pack("<d", float(o)))
    elif isinstance(o, str):
        _bytes(h, b"S", o.encode("utf-8"))
    elif isinstance(o, bytes):
        _bytes(h, b"Y", o)
    elif isinstance(o, np.ndarray):
        if o.dtype.hasobject:
            _bytes(h, b"O", str(o.shape).encode())
            for item in o.reshape(-1):
                _feed(h, item, depth + 1)
            return
        a = np.ascontiguousarray(o)
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        _bytes(h, b"A", f"{a.dtype.str}{a.shape}".encode())
        _bytes(h, b"a", a.tobytes())
    elif isinstance(o, Mapping):
        _bytes(h, b"D", str(len(o)).encode())
        for k in sorted(o, key=str):
            _feed(h, str(k), depth + 1)
            _feed(h, o[k], depth + 1)
    elif isinstance(o, (list, tuple)):
        _bytes(h, b"L", str(len(o)).encode())
        for item in o:
            _feed(h, item, depth + 1)
    elif dataclasses.is_dataclass(o) and not isinstance(o, type):
        _bytes(h, b"C", class_tag(type(o)).encode())
        for f in dataclasses.fields(o):
            _feed(h, f.name, depth + 1)
            _feed(h, getattr(o, f.name), depth + 1)
    elif hasattr(o, "__dict__") and not isinstance(o, _OPAQUE):
        _bytes(h, b"C", class_tag(type(o)).encode())
        _feed(h, dict(vars(o)), depth + 1)
    else:
        raise ValidationError(
            f"cannot compute an exact digest of a value of type {type(o).__name__} (allowed: numbers, "
            "strings, numpy arrays, sequences, mappings, dataclasses)"
        )
