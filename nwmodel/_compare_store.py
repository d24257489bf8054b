"""The cell store of a comparison's results directory: one JSON file per cell, resume, HDF5 file.

* ``cells/<dataset>__<backend>.json`` and ``baselines/<dataset>__<baseline>.json``: one
  :class:`~nwmodel._compare_results.CellResult` each, written atomically (a temporary file in
  the same folder, then ``os.replace``) as soon as its cell finishes.
* :func:`plan` sorts the cells of a run, before any runs, into those to resume (a stored file of
  the same fingerprint) and those to run, and refuses (:class:`~nwmodel.errors.ExperimentError`
  naming the file) a stored cell of a different configuration or a corrupt or truncated cell file.
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
from typing import Any

import numpy as np

from nwphys import fileio, hdf5

from ._compare_results import CellResult, jsonable
from .errors import ExperimentError

__all__ = [
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


def _resumable(path: Path, fp: str, key: str, force: bool) -> bool:
    """True when ``path`` holds the finished cell ``key`` of fingerprint ``fp`` (skip it).

    False when it must run: no file, or (with ``force``) a different or unreadable one; without
    ``force`` those raise :class:`ExperimentError`.
    """
    if not path.exists():
        return False
    try:
        stored = read_cell_file(path)
    except ExperimentError:
        if not force:
            raise
        stored = {}
    if stored.get("fingerprint") == fp:
        return True
    if stored and not force:
        raise ExperimentError(
            f"{str(path)!r} holds cell {key} of a different configuration; use another "
            "output directory or --force to rerun it"
        )
    return False


def plan(
    out: Path, entries: Sequence[tuple[Any, str, str, str, str]], force: bool
) -> tuple[list[tuple[Any, str, str, str, str]], list[str]]:
    """Split a run's cells into those to run and those to resume; check every other stored file.

    Parameters
    ----------
    out : Path
        Results directory.
    entries : sequence of (dataset, backend, key, fingerprint, folder)
        The run's cells (``folder="cells"``) and baselines (``folder="baselines"``), in run order.
    force : bool
        Run a cell whose stored file has another fingerprint or is unreadable instead of raising.

    Returns
    -------
    todo : list of (dataset, backend, key, fingerprint, folder)
        The entries to run, in order.
    skipped : list of str
        Keys of the entries resumed from their files.

    Raises
    ------
    ExperimentError
        A stored file of the run holds another configuration or is corrupt (without ``force``),
        or a stored file outside the run is corrupt (also with ``force``: the reports read it).
    """
    todo: list[tuple[Any, str, str, str, str]] = []
    skipped: list[str] = []
    for entry in entries:
        _, _, key, fp, folder = entry
        if _resumable(out / folder / f"{key}.json", fp, key, force):
            skipped.append(key)
        else:
            todo.append(entry)
    for folder in ("cells", "baselines"):
        known = {key for _, _, key, _, f in entries if f == folder}
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
                hdf5.set_json_attr(g, "best_params", c.best_params, sort_keys=True)
                hdf5.set_json_attr(g, "config", c.config, sort_keys=True, default=repr)
                g.create_dataset("test_scores", data=np.asarray(c.test_scores, dtype=float))
                g.create_dataset("val_scores", data=np.asarray(c.val_scores, dtype=float))
                configs = [json.dumps(p, sort_keys=True) for p in c.configs]
                g.create_dataset("configs", data=np.array(configs, dtype=h5py.string_dtype()))
