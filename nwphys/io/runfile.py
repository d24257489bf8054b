"""HDF5 run files: simulation records committed chunk by chunk, crash-safe, resumed exactly.

Files of a run written to ``run.h5``
------------------------------------
``run.h5``
    The run file. It only ever appears complete: it is written under the temporary name
    ``run.h5.partial`` and renamed into place (:func:`nwutil.hdf5.write_atomically`), once when
    the run starts (parameters, no records) and once when it finishes, is stopped by the
    callback or is interrupted by an exception, Ctrl-C included (every committed record,
    consolidated into this one file).
``run.h5.parts/``
    The journal of a run in progress: one HDF5 file per committed chunk,
    ``r<first record, 12 digits>.h5``, each written the same way (temporary name, then rename),
    holding the chunk's records and the checkpoint after them. It is removed when the run file is
    consolidated.
``run.h5.lock``
    The write lock (:func:`nwutil.fileio.output_lock`), held by the writer from its creation until
    the run file is consolidated: a second writer of ``run.h5`` fails at once with
    :class:`~nwutil.fileio.OutputLockedError`. Removed on release; one left by a killed writer is
    free (the kernel released it).

Status of a run
---------------
``complete`` (0) and ``stopped`` (1, by the callback) are written when the run file is
consolidated; ``interrupted`` (-1) when an exception stopped the run, with a message naming the
time reached, the cause and how to resume (``resume_command``). A killed writer cannot write
anything: its file still says ``running`` (-2). Readers (:func:`read_run`, :func:`run_status`)
tell the two apart by the lock: a file marked running whose lock no process holds reads as
interrupted, with a message saying that its writer stopped without closing it.

Crash-safety guarantee
----------------------
A file gets its final name only when it is complete, and is never modified in place afterwards
(the run file is only replaced, by rename, with a newer complete version). Killing the writing
process at any moment (SIGKILL, an out-of-memory kill, an escaping exception) therefore leaves
either no run file (a kill before the first rename, i.e. while the empty run file is created) or
a run file that :func:`read_run` reads with every chunk committed before the kill, and that
``simulate(..., resume=True)`` continues from the last committed chunk to the same records as an
uninterrupted run. Leftover ``*.partial`` files and journal chunks that do not extend the run file
(another epoch, a gap) are ignored, and removed by the next writer. Two writers never work on one
run file at once (the lock). Not covered: power loss or an operating-system crash (nothing is
fsync'ed).
Cost: one file created and renamed per chunk, and every record written a second time when the run
file is consolidated. Measured on a local disk (83 junctions, 20 records per chunk, ``"sdirk2"``):
the run file adds about 3 ms per chunk to the simulation (commit alone 1-2 ms); consolidating 50
such chunks takes about 10 ms.

Layout (format ``"nwhil-run"``, version 2)
------------------------------------------
The header, the open checks and the JSON attributes follow :mod:`nwutil.hdf5`; the journal is
read and cleared by :mod:`nwphys.io._run_journal`.

run file, root attrs
    ``format``, ``format_version``, ``package_version``, ``epoch`` (random id of this version of
    the file), ``complete`` (bool), ``status`` (-2 running or killed, -1 interrupted, 0 finished,
    1 stopped: :data:`RUN_STATUS_NAMES`), ``message``, ``resume_command``, the work counters of
    every session up to the consolidated records (``n_steps``, ``n_rejected``, ``n_newton``,
    ``nfev``, ``wall_time_s``; absent before the first consolidation) and the run parameters as
    JSON in ``params_json``.
run file, datasets (first axis = records)
    ``t_s`` (n_rec,), ``g`` (n_rec, n_junctions), ``electrode_current_A`` and
    ``electrode_voltage_V`` (n_rec, n_electrodes), optional ``node_voltage_V`` (n_rec, n_probe)
    and ``record_nodes`` (n_probe,). Of an incomplete run only the first ``checkpoint.rows``
    records count.
run file, group ``checkpoint``
    attrs ``rows`` (records committed), ``step`` (next fixed step to compute), ``t_s``; dataset
    ``state`` (n_junctions,), the junction state at ``step`` (absent before the first chunk).
journal chunk
    attrs ``format = "nwhil-run-chunk"``, ``epoch`` (that of the run file it extends), ``row0``,
    ``rows`` (``row0`` + its number of records), ``step``, ``t_s``, the work counters of every
    session up to this chunk (as in the run file); the record datasets of its records and
    ``state``.

The committed records are the run file's first ``checkpoint.rows`` records followed by the chain
of journal chunks that carry the run file's epoch, each starting where the previous one ended; the
last one holds the checkpoint. Files of format version 1 (one file appended in place, no journal)
are read as well, but not resumed.

Resume rule
-----------
A run continues only under exactly the parameters it was started with: every item of ``params``
(see :func:`nwphys.simulate` for what it holds: method, steps, tolerances, the drive's and the
circuit's content digests, the junction parameters, the initial state's digest, ...) must equal
the stored one, compared as canonical JSON (floats exactly, by their shortest round-trip
representation). Any difference is refused with :class:`~nwphys.errors.DeviceFileError` naming
every differing item with its stored and given value. A complete run is not resumed.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nwphys.errors import DeviceFileError, ValidationError
from nwphys.io._run_journal import STAT_KEYS, Committed, chunk_path, clear_journal, journal_dir
from nwutil.fileio import json_default, output_lock, output_locked, partial_path
from nwutil.hdf5 import (
    FORMAT_ATTR,
    RUN_CHUNK_FORMAT,
    RUN_FORMAT,
    RUN_STATUS_CODES,
    STATUS_RUNNING,
    VERSION_ATTR,
    get_json_attr,
    open_checked,
    set_json_attr,
    write_atomically,
    write_header,
)

__all__ = [
    "RUN_FORMAT",
    "RUN_STATUS_NAMES",
    "STATUS_INTERRUPTED",
    "RunWriter",
    "journal_dir",
    "param_differences",
    "read_run",
    "run_status",
]

RUN_FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_MISSING = object()

#: Status of a run whose writer stopped on an exception (Ctrl-C included) or was killed.
STATUS_INTERRUPTED = "interrupted"
#: The ``status`` codes of a run file and their names: those of :data:`nwutil.hdf5.RUN_STATUS_CODES`
#: and -1, interrupted.
RUN_STATUS_NAMES: dict[int, str] = {
    **{code: name for name, code in RUN_STATUS_CODES.items()},
    -1: STATUS_INTERRUPTED,
}
_INTERRUPTED = -1
_RUNNING = RUN_STATUS_CODES[STATUS_RUNNING]
#: How a run started through the library is resumed (the CLI stores its own command line instead).
_API_RESUME = "call simulate(..., resume=True) with the same arguments"


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=json_default)


def _show(value: Any, key: str) -> str:
    if value is _MISSING:
        return "(absent)"
    if key.endswith("_sha256") and isinstance(value, str):
        return value[:16]
    text = _canonical_json(value)
    return text if len(text) <= 60 else text[:57] + "..."


def param_differences(stored: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """Describe every item that differs between two parameter dicts (empty: identical).

    Items are compared as canonical JSON. Each entry reads ``"<name>: stored <old>, given <new>"``;
    digests (keys ending in ``_sha256``) are named ``"<what> (sha256 of the full content)"`` and
    shown by their first 16 hex digits.
    """
    out = []
    for key in sorted(set(stored) | set(given)):
        a, b = stored.get(key, _MISSING), given.get(key, _MISSING)
        if a is not _MISSING and b is not _MISSING and _canonical_json(a) == _canonical_json(b):
            continue
        label = f"{key[: -len('_sha256')]} (sha256 of the full content)" if key.endswith("_sha256") else key
        out.append(f"{label}: stored {_show(a, key)}, given {_show(b, key)}")
    return out


def _open_run(path: Path) -> Any:
    return open_checked(path, RUN_FORMAT, _READABLE_VERSIONS, what="run file", error=DeviceFileError)


class RunWriter:
    """Writer of a run file: create it (or reopen it to resume), commit chunks, consolidate.

    See the module docstring for the files, the crash-safety guarantee and the resume rule.

    Parameters
    ----------
    path : path-like
        The run file.
    params : dict
        Run parameters (JSON-serialisable); on resume they must equal the stored ones.
    n_junctions, n_electrodes, n_probe : int
        Widths of the record datasets (``n_probe = 0``: no node voltages).
    record_nodes : array_like of int, shape (n_probe,), optional
        The nodes recorded in ``node_voltage_V``.
    resume : bool
        Reopen an incomplete run file and continue from its last committed chunk.
    force : bool
        Overwrite an existing file when not resuming.
    resume_command : str, optional
        How to resume this run, stored with it (attribute ``resume_command``) from its creation on
        and named in the message of an interrupted run; default: call :func:`nwphys.simulate` again
        with ``resume=True``.

    Attributes
    ----------
    checkpoint : tuple (rows, step, t_s, state) or None
        The last committed checkpoint (None for a new run or one killed before its first chunk).
    stats : dict of str to number
        The work counters ``n_steps``, ``n_rejected``, ``n_newton``, ``nfev`` and ``wall_time_s``
        (seconds) of every session up to :attr:`checkpoint` (zeros for a new run); a resumed run
        adds its own to them.

    Raises
    ------
    OutputLockedError
        Another process or thread writes ``path`` (:func:`nwutil.fileio.output_lock`); the writer
        holds that lock from its creation until :meth:`finish`, :meth:`interrupt` or :meth:`close`.
    DeviceFileError
        The file exists (and neither ``resume`` nor ``force``), or cannot be resumed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        params: dict[str, Any],
        n_junctions: int,
        n_electrodes: int,
        n_probe: int,
        record_nodes: Sequence[int] | np.ndarray | None = None,
        resume: bool = False,
        force: bool = False,
        resume_command: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.resume_command = resume_command or _API_RESUME
        self.params: dict[str, Any] = json.loads(_canonical_json(params))
        self._widths = {
            "g": int(n_junctions),
            "electrode_current_A": int(n_electrodes),
            "electrode_voltage_V": int(n_electrodes),
        }
        if n_probe:
            self._widths["node_voltage_V"] = int(n_probe)
        self._record_nodes = None if record_nodes is None else np.asarray(record_nodes, dtype=np.int64)
        self._hdf5_rows = max(1, min(256, int(params.get("chunk_records", 256))))
        self.checkpoint: tuple[int, int, float, np.ndarray] | None = None
        self._base_rows = 0  # records in the run file
        self._prior: list[Path] = []  # journal chunks committed before this writer opened the run
        self._session: list[dict[str, np.ndarray]] = []  # records committed by this writer
        self._rows = 0
        self._closed = False
        self.stats: dict[str, float] = {k: 0.0 if k == "wall_time_s" else 0 for k in STAT_KEYS}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(output_lock(self.path, what="run file"))
        try:
            self._start(resume, force)
        except BaseException:
            self._closed = True
            self._lock.close()
            raise

    def _start(self, resume: bool, force: bool) -> None:
        if resume and self.path.exists():
            self._open_resume()
            return
        if self.path.exists() and not force:
            raise DeviceFileError(
                f"run file {str(self.path)!r} exists; pass force=True (--force) to overwrite "
                "or resume=True (--resume) to continue it"
            )
        self._epoch = uuid.uuid4().hex
        empty = {name: np.zeros((0, w)) for name, w in self._widths.items()}
        self._write_run_file(
            {"t_s": np.zeros(0), **empty}, status=RUN_STATUS_CODES[STATUS_RUNNING], message=STATUS_RUNNING
        )
        clear_journal(self.path, keep=())

    # ------------------------------------------------------------------ resume
    def _open_resume(self) -> None:
        where = f"cannot resume {str(self.path)!r}"
        try:
            f = _open_run(self.path)
        except DeviceFileError as exc:
            raise DeviceFileError(f"{where}: {exc}") from None
        with f:
            if bool(f.attrs.get("complete", False)):
                raise DeviceFileError(f"{where}: the run is already complete")
            if int(f.attrs[VERSION_ATTR]) != RUN_FORMAT_VERSION:
                raise DeviceFileError(
                    f"{where}: written in run-file format version {int(f.attrs[VERSION_ATTR])}, "
                    f"which cannot be resumed; start the run again with force=True (--force)"
                )
            try:
                stored = get_json_attr(f, "params_json", {})
            except ValueError:  # not JSON
                stored = {}
            diffs = param_differences(stored, self.params)
            if diffs:
                raise DeviceFileError(
                    f"{where}: it was started with different parameters: {'; '.join(diffs)}"
                )
            state = Committed(f, self.path)
        self._epoch = str(state.epoch)
        self._base_rows, self._prior, self._rows = state.base_rows, state.chunks, state.rows
        self.checkpoint = state.checkpoint
        self.stats = dict(state.stats)
        clear_journal(self.path, keep=state.chunks)
        partial_path(self.path).unlink(missing_ok=True)

    # ------------------------------------------------------------------ writing
    def _check_open(self) -> None:
        if self._closed:
            raise DeviceFileError(f"run file {str(self.path)!r} is closed")

    def commit(
        self,
        records: Mapping[str, np.ndarray],
        *,
        rows: int,
        step: int,
        t_s: float,
        state: np.ndarray,
        stats: Mapping[str, float] | None = None,
    ) -> None:
        """Commit one chunk: its records and the checkpoint after them, atomically.

        Parameters
        ----------
        records : mapping of str to ndarray
            ``t_s`` (n,) and every record dataset of the run, n rows each.
        rows : int
            Records committed after this chunk (the previous count + n).
        step : int
            Next fixed step to compute.
        t_s : float
            Time of ``step`` in seconds.
        state : ndarray, shape (n_junctions,)
            Junction state at ``step``.
        stats : mapping of str to number, optional
            The work counters (:attr:`stats`) of the run up to this chunk, over every session;
            those not given keep their previous value.
        """
        self._check_open()
        counters = {**self.stats, **{k: v for k, v in (stats or {}).items() if k in STAT_KEYS}}
        t = np.asarray(records["t_s"], dtype=float).reshape(-1)
        n = t.size
        if int(rows) != self._rows + n:
            raise ValidationError(f"rows must be {self._rows} + {n} = {self._rows + n}, got {rows!r}")
        data = {"t_s": t}
        for name, w in self._widths.items():
            a = np.asarray(records[name], dtype=float)
            if a.shape != (n, w):
                raise ValidationError(f"records[{name!r}] must have shape ({n}, {w}), got {a.shape}")
            data[name] = a
        st = np.asarray(state, dtype=float).copy()
        row0, epoch = self._rows, self._epoch

        def fill(f: Any) -> None:
            f.attrs.update(
                {
                    FORMAT_ATTR: RUN_CHUNK_FORMAT,
                    "epoch": epoch,
                    "row0": row0,
                    "rows": int(rows),
                    "step": int(step),
                    "t_s": float(t_s),
                    **counters,
                }
            )
            for name, a in data.items():
                f.create_dataset(name, data=a)
            f.create_dataset("state", data=st)

        c = chunk_path(self.path, row0)
        c.parent.mkdir(exist_ok=True)
        write_atomically(c, fill, in_memory=sum(a.nbytes for a in data.values()) < 1 << 22)
        self._session.append(data)
        self._rows = int(rows)
        self.checkpoint = (self._rows, int(step), float(t_s), st)
        self.stats = counters

    def read_arrays(self) -> dict[str, np.ndarray]:
        """Every committed record of every dataset, in order.

        The records of the run file and of the journal chunks committed before this writer opened
        the run are read from disk; those this writer committed are kept in memory.
        """
        import h5py

        names = ("t_s", *self._widths)
        with _open_run(self.path) as f:
            if f.attrs.get("epoch") != self._epoch:
                raise DeviceFileError(
                    f"run file {str(self.path)!r} was replaced while this writer was running "
                    "(two runs writing one file?)"
                )
            parts = {name: [f[name][: self._base_rows]] for name in names}
        for c in self._prior:
            with h5py.File(c, "r") as g:
                for name in names:
                    parts[name].append(g[name][...])
        for data in self._session:
            for name in names:
                parts[name].append(data[name])
        return {name: np.concatenate(lst, axis=0) for name, lst in parts.items()}

    def finish(
        self,
        *,
        status: int,
        message: str,
        wall_time_s: float,
        n_steps: int,
        nfev: int,
        n_rejected: int = 0,
        n_newton: int = 0,
    ) -> dict[str, np.ndarray]:
        """Consolidate every record into the run file, mark it complete (status 0) or stopped.

        The counters are those of the whole run, every session included (see :attr:`stats`). The
        lock is released, whether the consolidation succeeds or not.

        Returns
        -------
        dict of str to ndarray
            Every record dataset (as :meth:`read_arrays`).
        """
        self._check_open()
        counters = {
            "wall_time_s": float(wall_time_s),
            "n_steps": int(n_steps),
            "nfev": int(nfev),
            "n_rejected": int(n_rejected),
            "n_newton": int(n_newton),
        }
        try:
            return self._consolidate(status=status, message=message, counters=counters)
        finally:
            self.close()

    def interrupt(self, cause: str) -> str:
        """Consolidate the committed records into the run file, marked interrupted; release the lock.

        For a run that stops on an exception (Ctrl-C included): the file then holds every committed
        record, its checkpoint, the counters up to it (:attr:`stats`) and a message naming the time
        reached, ``cause`` and :attr:`resume_command`; it resumes as any other. If the file cannot
        be written, the committed chunks stay as they are (still resumable) and the error propagates.

        Returns
        -------
        str
            The message stored.
        """
        self._check_open()
        t_s = self.checkpoint[2] if self.checkpoint is not None else 0.0
        message = f"interrupted at t={t_s:.9g} s ({cause}); resume with: {self.resume_command}"
        try:
            self._consolidate(status=_INTERRUPTED, message=message, counters=dict(self.stats))
        finally:
            self.close()
        return message

    def _consolidate(self, *, status: int, message: str, counters: dict[str, float]) -> dict[str, np.ndarray]:
        arrays = self.read_arrays()
        self._epoch = uuid.uuid4().hex
        self._write_run_file(arrays, status=status, message=message, **counters)
        clear_journal(self.path, keep=())
        self._base_rows, self._prior, self._session = self._rows, [], []
        self.stats = {**self.stats, **counters}
        return arrays

    def close(self) -> None:
        """Stop writing and release the lock (idempotent). The committed chunks stay: the run can
        be resumed."""
        self._closed = True
        self._lock.close()

    def _write_run_file(
        self, arrays: Mapping[str, np.ndarray], *, status: int, message: str, **extra: Any
    ) -> None:
        n = int(arrays["t_s"].shape[0])
        ck = self.checkpoint
        hdf5_rows = self._hdf5_rows
        attrs = {
            "epoch": self._epoch,
            "complete": status == 0,
            "status": int(status),
            "message": message,
            "resume_command": self.resume_command,
            **extra,
        }

        def fill(f: Any) -> None:
            write_header(f, RUN_FORMAT, RUN_FORMAT_VERSION)
            f.attrs.update(attrs)
            set_json_attr(f, "params_json", self.params, sort_keys=True)
            f.create_dataset("t_s", data=arrays["t_s"], maxshape=(None,), chunks=(max(hdf5_rows, 64),))
            for name, w in self._widths.items():
                # resizable along records; a zero width cannot be chunked as a fixed dimension
                f.create_dataset(
                    name, data=arrays[name], maxshape=(None, w if w else None), chunks=(hdf5_rows, max(1, w))
                )
            if self._record_nodes is not None:
                f.create_dataset("record_nodes", data=self._record_nodes)
            g = f.create_group("checkpoint")
            g.attrs["rows"] = n
            if ck is not None:
                g.attrs.update({"step": int(ck[1]), "t_s": float(ck[2])})
                g.create_dataset("state", data=ck[3])

        write_atomically(self.path, fill)


def read_run(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a run file (with the committed chunks of its journal) into a dict.

    Returns
    -------
    dict
        The record arrays (``t_s``, ``g``, ``electrode_current_A``, ``electrode_voltage_V``,
        ``node_voltage_V`` and ``record_nodes`` when recorded), ``params`` (dict), and the items of
        :func:`run_status`: ``complete``, ``status``, ``status_name``, ``message``,
        ``resume_command`` and ``package_version`` (those present), the counters ``n_steps``,
        ``n_rejected``, ``n_newton``, ``nfev``, ``wall_time_s`` (of every session, up to the last
        committed chunk), ``checkpoint_rows`` (records committed) and ``checkpoint_t_s``.

    Raises
    ------
    DeviceFileError
        If the file is missing, not HDF5, not an nwhil run file, or of an unknown format version.
    """
    return _read(Path(path), read=True)


def run_status(path: str | os.PathLike[str]) -> dict[str, Any]:
    """How far the run in ``path`` got, without reading its records.

    A run file says ``"running"`` from its creation until its writer finishes it; if no process
    holds its lock (:func:`nwutil.fileio.output_locked`), the writer died (SIGKILL, a crash), and
    the run reads as interrupted (status -1) with a message saying so.

    Returns
    -------
    dict
        ``params`` (dict), ``complete`` (bool), ``status`` (int: -2 running, -1 interrupted,
        0 complete, 1 stopped; :data:`RUN_STATUS_NAMES`), ``status_name``, ``message``,
        ``resume_command`` (how to resume the run, when stored), ``package_version``, the counters
        (see :func:`read_run`), ``checkpoint_rows`` and ``checkpoint_t_s`` (the time reached, in
        seconds).

    Raises
    ------
    DeviceFileError
        As :func:`read_run`.
    """
    return _read(Path(path), read=False)


def _read(p: Path, *, read: bool) -> dict[str, Any]:
    with _open_run(p) as f:
        state = Committed(f, p, read=read)
        out: dict[str, Any] = dict(state.arrays)
        if read and "record_nodes" in f:
            out["record_nodes"] = f["record_nodes"][...]
        out["params"] = get_json_attr(f, "params_json")
        out.update(state.stats)
        for k in ("complete", "status", "message", "resume_command", "package_version"):
            if k in f.attrs:
                v = f.attrs[k]
                out[k] = v.item() if isinstance(v, np.generic) else v
        out["checkpoint_rows"] = state.rows
        out["checkpoint_t_s"] = state.checkpoint[2] if state.checkpoint is not None else 0.0
    out["complete"] = bool(out.get("complete", False))
    out["status"] = int(out.get("status", _RUNNING))
    if out["status"] == _RUNNING and not output_locked(p):
        hint = out.get("resume_command", _API_RESUME)
        out["status"] = _INTERRUPTED
        out["message"] = (
            "interrupted: the process writing it stopped without closing it (killed?) after "
            f"t={out['checkpoint_t_s']:.9g} s; resume with: {hint}"
        )
    out["status_name"] = RUN_STATUS_NAMES.get(out["status"], f"unknown ({out['status']})")
    return out
