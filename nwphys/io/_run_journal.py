"""The journal of a run file: where its chunk files live, which of them count, clearing them.

A run in progress commits each chunk of records as one file ``r<first record, 12 digits>.h5`` in
``<run file>.parts/`` (format :data:`~nwutil.hdf5.RUN_CHUNK_FORMAT`). The committed records are
the run file's first ``checkpoint.rows`` records followed by the chain of chunks that carry the run
file's ``epoch``, each starting where the previous one ended (:class:`Committed`). See
:mod:`nwphys.io.runfile` for the whole layout and the crash-safety guarantee.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nwphys.errors import DeviceFileError
from nwutil.fileio import PARTIAL_SUFFIX
from nwutil.hdf5 import FORMAT_ATTR, RUN_CHUNK_FORMAT, open_readable

__all__ = ["RECORD_DATASETS", "STAT_KEYS", "Committed", "chunk_path", "clear_journal", "journal_dir"]

#: The record datasets a run file and its chunks may hold (first axis = records).
RECORD_DATASETS = ("t_s", "g", "electrode_current_A", "electrode_voltage_V", "node_voltage_V")
#: The work counters of a run (see :class:`nwphys.SimulationResult`), stored as attributes: in the
#: run file once it is consolidated, and in every chunk, counted over every session of the run up
#: to that chunk.
STAT_KEYS = ("n_steps", "n_rejected", "n_newton", "nfev", "wall_time_s")


def _stats(attrs: Any, base: dict[str, float]) -> dict[str, float]:
    """The counters of :data:`STAT_KEYS` found in ``attrs``, the others from ``base``."""
    out = dict(base)
    for k in STAT_KEYS:
        if k in attrs:
            out[k] = float(attrs[k]) if k == "wall_time_s" else int(attrs[k])
    return out


#: Names of the files of a journal (complete chunks and temporary ones).
_CHUNK_NAME = re.compile(r"r\d{12}\.h5(" + re.escape(PARTIAL_SUFFIX) + ")?")


def journal_dir(path: str | os.PathLike[str]) -> Path:
    """The journal directory of the run file ``path`` (``<path>.parts``)."""
    p = Path(path)
    return p.with_name(p.name + ".parts")


def chunk_path(path: Path, row0: int) -> Path:
    """The journal file of the chunk whose first record is ``row0``."""
    return journal_dir(path) / f"r{row0:012d}.h5"


def clear_journal(path: Path, keep: Sequence[Path]) -> None:
    """Remove every journal file of the run file ``path`` but ``keep``; the directory when empty."""
    d = journal_dir(path)
    if not d.is_dir():
        return
    names = {p.name for p in keep}
    for p in d.iterdir():
        if p.name not in names and _CHUNK_NAME.fullmatch(p.name):
            p.unlink(missing_ok=True)
    if not names:
        try:
            d.rmdir()
        except OSError:  # holds files that are not ours
            pass


class Committed:
    """What a run file and its journal hold: committed rows, the chain of chunks, the checkpoint.

    Parameters
    ----------
    f : h5py.File
        The open run file.
    path : Path
        Its name (the journal is found beside it).
    read : bool
        Also read the committed records (:attr:`arrays`), opening each chunk file once.

    Attributes
    ----------
    epoch : str or None
        The run file's epoch.
    base_rows : int
        Records committed in the run file itself.
    rows : int
        Records committed in all (run file and chain of chunks).
    chunks : list of Path
        The chain of chunk files.
    checkpoint : tuple (rows, step, t_s, state) or None
        The last committed checkpoint.
    stats : dict of str to number
        The work counters (:data:`STAT_KEYS`) of every session up to the last committed chunk
        (0 where the files do not say).
    arrays : dict of str to ndarray
        With ``read=True``, every committed record of every dataset.

    Raises
    ------
    DeviceFileError
        The run file's checkpoint or a chunk of the chain contradicts the record counts.
    """

    def __init__(self, f: Any, path: Path, *, read: bool = False) -> None:
        complete = bool(f.attrs.get("complete", False))
        n_t = int(f["t_s"].shape[0]) if "t_s" in f else 0
        ck = f["checkpoint"] if "checkpoint" in f else None
        if complete:
            base = n_t
        else:
            base = int(ck.attrs["rows"]) if ck is not None and "rows" in ck.attrs else 0
        if not 0 <= base <= n_t:
            raise DeviceFileError(
                f"run file {str(path)!r} is damaged: checkpoint.rows={base} outside [0, {n_t}] records"
            )
        self.epoch = f.attrs.get("epoch")
        self.base_rows = base
        zero = {k: 0.0 if k == "wall_time_s" else 0 for k in STAT_KEYS}
        self.stats = _stats(f.attrs, zero)
        self.checkpoint: tuple[int, int, float, np.ndarray] | None = None
        if ck is not None and "state" in ck:
            self.checkpoint = (base, int(ck.attrs["step"]), float(ck.attrs["t_s"]), ck["state"][...])
        names = [name for name in RECORD_DATASETS if name in f]
        parts: dict[str, list[np.ndarray]] = {name: [f[name][:base]] for name in names} if read else {}
        self.chunks: list[Path] = []
        rows = base
        if not complete and self.epoch is not None:
            while (c := chunk_path(path, rows)).is_file():
                # messages name the run file: its journal is an implementation detail
                damaged = f"run file {str(path)!r} is damaged: the chunk of its records from {rows} on"
                try:
                    g = open_readable(c, what="run journal chunk", error=DeviceFileError)
                except DeviceFileError:
                    raise DeviceFileError(f"{damaged} cannot be read; start the run again") from None
                with g:
                    if g.attrs.get(FORMAT_ATTR) != RUN_CHUNK_FORMAT or g.attrs.get("epoch") != self.epoch:
                        break  # not a chunk of this epoch: it does not extend this run file
                    r1 = int(g.attrs["rows"])
                    if int(g.attrs["row0"]) != rows or r1 <= rows:
                        raise DeviceFileError(
                            f"{damaged} holds records {int(g.attrs['row0'])}..{r1}; start the run again"
                        )
                    self.checkpoint = (r1, int(g.attrs["step"]), float(g.attrs["t_s"]), g["state"][...])
                    self.stats = _stats(g.attrs, self.stats)
                    for name, lst in parts.items():
                        lst.append(g[name][...])
                self.chunks.append(c)
                rows = r1
        self.rows = rows
        self.arrays = {name: np.concatenate(lst, axis=0) for name, lst in parts.items()}
