"""Store of the raw readings of a physical reservoir on a simulated device, shared between fits.

What a simulated device reads for one series is fixed by the device recipe
(:class:`~nwmodel.SimulatedDeviceSpec`), the fitted input encoding (calibrated electrode window
included) and the series itself, provided that series do not depend on each other
(``reset="restore"``) and the device adds no random read noise. A comparison drives the same
series through the same encoding several times: the refit of the selected configuration on the
whole training split repeats the selection's fits on its two parts, and the ``oracle`` backend
integrates the same dynamics as the electrode-only ``simulated`` one (probing internal nodes reads
them without changing the integration). :func:`cached_features` computes each series once and
returns the stored readings bit for bit afterwards.

Layout
------
``<root>/<key>/<chunk>.npz``, one directory per (device, encoding) key and one chunk per call
that had to drive the device: arrays ``series`` (digests of the series), ``electrodes``
(``(n, n_timepoints * n_virtual, n_electrode_readings)``: every reading of each series, so that
every readout feature set of :mod:`nwmodel.models.readout` comes from one integration) and, for the
oracle readout, ``nodes`` (``(n, n_timepoints * n_virtual, n_probe)``). The electrode key covers
the device recipe without ``n_probe``
and the encoding without its readout; the node key adds ``n_probe``. Chunks are written once
under a fresh name and renamed into place, so concurrent workers never write the same file and
a killed writer leaves at most a hidden temporary file, which readers skip. A chunk that exists
but cannot be read raises :class:`~nwmodel.errors.ExperimentError`: it is never ignored.

Keys include the package version, but not the source code itself: like the resumed cells of a
comparison's results directory, stored readings assume that the integrator has not changed in
between. After changing it, use a fresh results directory (or delete its ``features/``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nwmodel.errors import ExperimentError
from nwmodel.physical._drive import Encoding
from nwmodel.physical._spec import SimulatedDeviceSpec

__all__ = ["cached_features", "store_applies"]

#: Version of the chunk layout (part of every key).
_FORMAT = 2


def _array_digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
    h = hashlib.sha256(repr(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=repr).encode()).hexdigest()[:32]


def store_applies(device: Any, enc: Encoding) -> bool:
    """Whether the readings of ``device`` under ``enc`` are a function of each series alone."""
    if not isinstance(device, SimulatedDeviceSpec):
        return False  # a bench, an emulator or any other factory is measured every time
    from nwphys.junctions import JUNCTION_MODELS

    kw = dict(device.device_kwargs)
    noisy = (
        float(kw.get("read_noise_V", 0.0) or 0.0) > 0.0
        or float(kw.get("read_noise_A", 0.0) or 0.0) > 0.0
        or bool(getattr(JUNCTION_MODELS.get(device.network().junction_model), "stochastic", False))
    )
    return enc.reset == "restore" and enc.readout in ("electrodes", "oracle") and not noisy


def _keys(spec: SimulatedDeviceSpec, enc: Encoding) -> tuple[str, str | None]:
    from nwutil.hdf5 import package_version

    fields = dataclasses.asdict(spec)
    n_probe = int(fields.pop("n_probe"))
    if spec.network_path is not None:
        fields["network_file_sha256"] = hashlib.sha256(Path(spec.network_path).read_bytes()).hexdigest()
    e = dataclasses.asdict(enc)
    e.pop("readout")
    for name in ("w_in", "bias", "mask"):
        e[name] = _array_digest(e[name])
    for name in ("slope", "v_bias_V", "v_scale_V", "dt_s", "relax_s"):
        e[name] = float(e[name]).hex()  # exact
    ekey = _digest({"format": _FORMAT, "version": package_version(), "device": fields, "encoding": e})
    nkey = _digest({"electrodes": ekey, "n_probe": n_probe}) if enc.readout == "oracle" else None
    return ekey, nkey


def _series_digest(x: np.ndarray) -> str:
    return _array_digest(x)[:32]


def _load(folder: Path, part: str) -> dict[str, np.ndarray]:
    """Every stored row of ``part`` under ``folder``: series digest -> (n_readings, n_read)."""
    rows: dict[str, np.ndarray] = {}
    if not folder.is_dir():
        return rows
    for f in sorted(folder.glob("*.npz")):
        try:
            with np.load(f, allow_pickle=False) as z:
                if part not in z.files:
                    continue
                for d, r in zip(z["series"].tolist(), z[part], strict=True):
                    rows[str(d)] = r
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ExperimentError(
                f"stored readings {f} cannot be read ({type(exc).__name__}: {exc}); delete the file "
                "to recompute it"
            ) from None
    return rows


def _save(folder: Path, digests: list[str], parts: dict[str, np.ndarray]) -> None:
    from nwutil.fileio import atomic_path

    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256("".join(digests).encode()).hexdigest()[:24]
    with atomic_path(folder / f"{name}.npz", unique=True) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, series=np.array(digests), **parts)


def cached_features(
    root: str | Path,
    spec: SimulatedDeviceSpec,
    enc: Encoding,
    X: np.ndarray,
    compute: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Raw features of ``X``: stored readings where present, ``compute`` for the rest (stored).

    Parameters
    ----------
    root : path
        Store directory (created when first written).
    spec : SimulatedDeviceSpec
        The device recipe (:func:`store_applies` must hold).
    enc : Encoding
        Fitted encoding; ``readout`` ``"electrodes"`` or ``"oracle"``.
    X : ndarray, shape (n_cases, n_channels, n_timepoints)
    compute : callable
        ``compute(X_missing) -> trajectories`` of shape
        ``(n_missing, n_timepoints, n_virtual * n_read)``, as
        :func:`nwmodel.physical.reservoir.physical_trajectories` returns them.

    Returns
    -------
    ndarray, shape (n_cases, n_timepoints, n_virtual * n_read)
        Equal, bit for bit, to ``compute(X)``.
    """
    root = Path(root)
    ekey, nkey = _keys(spec, enc)
    digests = [_series_digest(x) for x in X]
    E = _load(root / ekey, "electrodes")
    N = _load(root / nkey, "nodes") if nkey is not None else {}
    missing = [i for i, d in enumerate(digests) if d not in E or (nkey is not None and d not in N)]
    n_v, n_t = enc.n_virtual, X.shape[-1]
    if missing:
        raw = np.asarray(compute(X[missing]), dtype=float)
        R = raw.reshape(len(missing), n_t * n_v, -1)
        n_nodes = int(spec.n_probe) if nkey is not None else 0
        if R.shape[2] <= n_nodes:
            raise ExperimentError(f"readings of {R.shape[2]} values cannot hold {n_nodes} probed nodes")
        new = [digests[i] for i in missing]
        elec, nodes = R[:, :, : R.shape[2] - n_nodes], R[:, :, R.shape[2] - n_nodes :]
        _save(root / ekey, new, {"electrodes": elec})
        E.update(zip(new, elec, strict=True))
        if nkey is not None:
            _save(root / nkey, new, {"nodes": nodes})
            N.update(zip(new, nodes, strict=True))
    rows = [E[d] if nkey is None else np.concatenate([E[d], N[d]], axis=1) for d in digests]
    return np.stack(rows).reshape(len(digests), n_t, -1)
