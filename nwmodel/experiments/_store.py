"""The cell store of a comparison's results directory: one JSON file per cell, resume, HDF5 file.

* ``cells/<dataset>__<backend>.json`` and ``baselines/<dataset>__<baseline>.json``: one
  :class:`~nwmodel.experiments._results.CellResult` each, written atomically (a temporary file in
  the same folder, then ``os.replace``) as soon as its cell finishes.
* :func:`plan` sorts the cells of a run (:class:`Entry`), before any runs, into those to resume
  (a stored file of the same fingerprint, which covers the SHA-256 of the device file and of the
  data) and those to run, and refuses (:class:`~nwmodel.errors.ExperimentError` naming the file) a
  stored cell of a different configuration, of other data or another device file (naming both
  digests), or a corrupt or truncated cell file. With ``force`` every cell of the run is
  recomputed.
* :func:`write_hdf5` writes ``comparison.h5`` (format ``nwhil-comparison``, version 1): one group
  per cell with its configuration, selected parameters and every score.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from nwmodel.errors import ExperimentError
from nwmodel.experiments._results import CellResult, jsonable
from nwutil import fileio, hdf5

__all__ = [
    "Entry",
    "atomic_path",
    "cell_key",
    "load_baselines",
    "load_cells",
    "load_ordered",
    "plan",
    "read_cell_file",
    "write_hdf5",
    "write_json_atomic",
]


class Entry(NamedTuple):
    """One cell or baseline of a comparison run.

    Attributes
    ----------
    dataset : str or Dataset
        What :func:`nwmodel.experiments.compare.run_cell` is given (a loaded dataset when planned by
        :func:`nwmodel.experiments.compare.run_comparison`).
    name : str
        Backend (``folder="cells"``) or baseline (``folder="baselines"``).
    key : str
        :func:`cell_key`: the file name of its record, without ``.json``.
    fingerprint : str
        Resume key of its configuration and inputs.
    folder : {"cells", "baselines"}
    inputs : dict of str to str or None
        The SHA-256 digests it is computed from (:attr:`CellResult.inputs`).
    """

    dataset: Any
    name: str
    key: str
    fingerprint: str
    folder: str
    inputs: dict[str, str | None]


#: What each digest of :attr:`CellResult.inputs` is a digest of, for messages.
_INPUT_NAMES = {"data_sha256": "data", "device_sha256": "device file"}


def atomic_path(path: Path) -> contextlib.AbstractContextManager[Path]:
    """A temporary path in ``path``'s folder (created), moved onto ``path`` on success."""
    return fileio.atomic_path(path, unique=True, make_parents=True)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` (through :func:`jsonable`) as indented, key-sorted JSON to ``path``, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(jsonable(obj), indent=1, sort_keys=True))


def cell_key(dataset: str, backend: str) -> str:
    """``<dataset>__<backend>``, with every character of ``dataset`` outside ``[A-Za-z0-9-_.]`` as ``_``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)
    return f"{safe}__{backend}"


def read_cell_file(path: Path) -> dict[str, Any]:
    """The JSON object of a cell file; :class:`ExperimentError` naming it when corrupt or truncated."""
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        why = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    else:
        fields = {
            f.name
            for f in dataclasses.fields(CellResult)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        if isinstance(obj, dict) and fields <= set(obj):
            return obj
        why = (
            "not a cell record"
            if not isinstance(obj, dict)
            else f"fields {sorted(fields - set(obj))} missing"
        )
    raise ExperimentError(
        f"cell file {str(path)!r} is corrupt or truncated ({why}); rerun its cell with --force to "
        "recompute it, or delete the file"
    )


def load_cells(out_dir: str | os.PathLike[str], *, folder: str = "cells") -> list[CellResult]:
    """Read every finished cell of a results directory (sorted by file name).

    ``folder="baselines"`` reads the stored baseline results instead (:func:`load_baselines`).

    Raises
    ------
    ExperimentError
        A cell file is corrupt or truncated (not JSON, or not a cell record); the message names it.
    """
    where = Path(out_dir) / folder
    if not where.is_dir():
        return []
    return [CellResult.from_json(read_cell_file(p)) for p in sorted(where.glob("*.json"))]


def load_baselines(out_dir: str | os.PathLike[str]) -> list[CellResult]:
    """Read every stored baseline result of a results directory (sorted by file name)."""
    return load_cells(out_dir, folder="baselines")


def _resumable(path: Path, entry: Entry, force: bool) -> bool:
    """True when ``path`` holds the finished cell of ``entry`` with its fingerprint (skip it).

    False when it must run: no file, or ``force`` (always recomputed). Without ``force``, a
    stored file of another fingerprint or an unreadable one raises :class:`ExperimentError`.
    """
    if force or not path.exists():
        return False
    stored = read_cell_file(path)
    if stored.get("fingerprint") == entry.fingerprint:
        return True
    old = stored.get("inputs") or {}
    for name, digest in entry.inputs.items():
        if name in old and old[name] != digest:
            what = _INPUT_NAMES.get(name, name)
            raise ExperimentError(
                f"{str(path)!r} holds cell {entry.key} computed from {what} sha256 {old[name]}, but "
                f"the {what} now has sha256 {digest}; use another output directory or --force to "
                "recompute it"
            )
    raise ExperimentError(
        f"{str(path)!r} holds cell {entry.key} of a different configuration; use another "
        "output directory or --force to rerun it"
    )


def plan(out: Path, entries: Sequence[Entry], force: bool) -> tuple[list[Entry], list[str]]:
    """Split a run's cells into those to run and those to resume; check every other stored file.

    Parameters
    ----------
    out : Path
        Results directory.
    entries : sequence of Entry
        The run's cells (``folder="cells"``) and baselines (``folder="baselines"``), in run order.
    force : bool
        Run every entry, whatever is stored, instead of resuming or raising.

    Returns
    -------
    todo : list of Entry
        The entries to run, in order.
    skipped : list of str
        Keys of the entries resumed from their files.

    Raises
    ------
    ExperimentError
        A stored file of the run holds another configuration, other data or another device
        file, or is corrupt (without ``force``), or a stored file outside the run is corrupt
        (also with ``force``: the reports read it).
    """
    todo: list[Entry] = []
    skipped: list[str] = []
    for entry in entries:
        if _resumable(out / entry.folder / f"{entry.key}.json", entry, force):
            skipped.append(entry.key)
        else:
            todo.append(entry)
    for folder in ("cells", "baselines"):
        known = {e.key for e in entries if e.folder == folder}
        for p in sorted((out / folder).glob("*.json")):
            if p.stem not in known:
                read_cell_file(p)
    return todo, skipped


def load_ordered(out: Path, keys: Sequence[str]) -> tuple[list[CellResult], list[CellResult]]:
    """Every stored cell and baseline of ``out``: those named in ``keys`` in that order, then the rest."""
    order = {k: i for i, k in enumerate(keys)}

    def rank(c: CellResult) -> int:
        return order.get(cell_key(c.dataset, c.backend), len(order))

    return sorted(load_cells(out), key=rank), sorted(load_baselines(out), key=rank)


def write_hdf5(cells: Sequence[CellResult], path: Path) -> None:
    """Write ``cells`` to the HDF5 file ``path`` (atomically), one group per cell named by its key."""
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            hdf5.write_header(f, hdf5.COMPARISON_FORMAT, 1)
            for c in cells:
                g = f.create_group(cell_key(c.dataset, c.backend))
                for name in ("dataset", "backend", "task", "metric", "fingerprint"):
                    g.attrs[name] = getattr(c, name)
                for name in ("test_mean", "test_std", "val_score", "wall_time_s"):
                    g.attrs[name] = float(getattr(c, name))
                g.attrs["n_seeds"] = int(c.n_seeds)
                for name, digest in c.inputs.items():
                    g.attrs[name] = "" if digest is None else str(digest)
                hdf5.set_json_attr(g, "best_params", c.best_params, sort_keys=True)
                hdf5.set_json_attr(g, "config", c.config, sort_keys=True, default=repr)
                g.create_dataset("test_scores", data=np.asarray(c.test_scores, dtype=float))
                g.create_dataset("val_scores", data=np.asarray(c.val_scores, dtype=float))
                configs = [json.dumps(p, sort_keys=True) for p in c.configs]
                g.create_dataset("configs", data=np.array(configs, dtype=h5py.string_dtype()))
