"""HDF5 device files: :func:`save_network` and :func:`load_network` (exact round trip).

Layout (format ``"nanowire-hil-device"``, version 1)::

    /                       attrs: format, format_version, package_version
    /geometry               size_um (2,), centers_um (n, 2), angles_rad (n,), lengths_um (n,);
                            attrs: diameter_nm
    /junctions              wires (m, 2) int64, xy_um (m, 2)
    /electrodes             names (k,) str, rect_um (k, 4), series_resistance_ohm (k,); attrs: layout
    /graph                  wire_component (n,) int64; attrs: representation, resistivity_ohm_m
    /junction_model         attrs: name, params (JSON object of floats)
    /state                  (m,) float, present only when the network has a state
    /metadata               attrs: json (the metadata dict as JSON)

The header, the open checks and the JSON attributes follow :mod:`nwutil.hdf5`. Writes are atomic
(:func:`nwutil.hdf5.write_atomically`: a temporary file in the target directory, moved into place
with :func:`os.replace`); an existing file is only replaced with ``force=True``.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from nwphys.errors import DeviceFileError, NanowireError
from nwphys.geometry.electrodes import Electrode, ElectrodeLayout
from nwphys.geometry.network import Junctions, NanowireNetwork
from nwphys.geometry.sticks import Geometry
from nwutil.hdf5 import (
    DEVICE_FORMAT,
    attr_str,
    get_json_attr,
    open_checked,
    set_json_attr,
    write_atomically,
    write_header,
)

__all__ = ["DEVICE_FORMAT", "DEVICE_FORMAT_VERSION", "load_network", "save_network"]

#: The device file format version this package writes (files of a newer version are refused).
DEVICE_FORMAT_VERSION = 1


def save_network(network: NanowireNetwork, path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write ``network`` to an HDF5 device file, atomically.

    Parameters
    ----------
    network : NanowireNetwork
    path : str or PathLike
        Target file; its directory must exist.
    force : bool
        Replace an existing file.

    Returns
    -------
    Path
        The written path.

    Raises
    ------
    DeviceFileError
        The file exists and ``force`` is False, or the directory is missing / not writable.
    """
    if not isinstance(network, NanowireNetwork):
        raise DeviceFileError(f"network must be a NanowireNetwork, got {type(network).__name__}")
    p = Path(path)
    if p.exists() and not force:
        raise DeviceFileError(f"device file {str(p)!r} exists; pass force=True (--force) to overwrite it")
    if not p.parent.is_dir():
        raise DeviceFileError(f"directory {str(p.parent)!r} of device file does not exist")
    return write_atomically(p, lambda f: _write(f, network), unique=True)


def _write(f: h5py.File, net: NanowireNetwork) -> None:
    write_header(f, DEVICE_FORMAT, DEVICE_FORMAT_VERSION)
    g = f.create_group("geometry")
    geo = net.geometry
    g.create_dataset("size_um", data=np.array(geo.size_um, dtype=float))
    g.create_dataset("centers_um", data=geo.centers_um)
    g.create_dataset("angles_rad", data=geo.angles_rad)
    g.create_dataset("lengths_um", data=geo.lengths_um)
    g.attrs["diameter_nm"] = float(geo.diameter_nm)
    j = f.create_group("junctions")
    j.create_dataset("wires", data=net.junctions.wires.astype(np.int64))
    j.create_dataset("xy_um", data=net.junctions.xy_um)
    e = f.create_group("electrodes")
    e.create_dataset("names", data=np.array(net.electrodes.names, dtype=object), dtype=h5py.string_dtype())
    e.create_dataset("rect_um", data=net.electrodes.rects_um)
    e.create_dataset("series_resistance_ohm", data=net.electrodes.series_resistance_ohm)
    e.attrs["layout"] = net.electrodes.name
    gr = f.create_group("graph")
    gr.create_dataset("wire_component", data=np.asarray(net.wire_component, dtype=np.int64))
    gr.attrs["representation"] = net.representation
    gr.attrs["resistivity_ohm_m"] = float(net.resistivity_ohm_m)
    m = f.create_group("junction_model")
    m.attrs["name"] = net.junction_model
    set_json_attr(m, "params", net.junction_params)
    if net.state is not None:
        f.create_dataset("state", data=net.state)
    md = f.create_group("metadata")
    set_json_attr(md, "json", net.metadata)


def load_network(path: str | os.PathLike[str]) -> NanowireNetwork:
    """Read a device file written by :func:`save_network`.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    NanowireNetwork
        Equal to the saved network (arrays bit for bit).

    Raises
    ------
    DeviceFileError
        The file is missing, not HDF5 (or truncated), not a device file, of a newer format
        version, or lacks a required part.
    """
    p = Path(path)
    with open_checked(
        p, DEVICE_FORMAT, range(1, DEVICE_FORMAT_VERSION + 1), what="device file", error=DeviceFileError
    ) as f:
        try:
            return _read(f)
        except (KeyError, OSError, ValueError, TypeError) as exc:
            if isinstance(exc, NanowireError):
                raise DeviceFileError(f"device file {str(p)!r} is inconsistent: {exc}") from None
            raise DeviceFileError(f"device file {str(p)!r} is damaged or incomplete: {exc}") from None


def _read(f: h5py.File) -> NanowireNetwork:
    g = f["geometry"]
    size = g["size_um"][()]
    geo = Geometry(
        (float(size[0]), float(size[1])),
        g["centers_um"][()],
        g["angles_rad"][()],
        g["lengths_um"][()],
        float(g.attrs["diameter_nm"]),
    )
    junctions = Junctions(f["junctions/wires"][()], f["junctions/xy_um"][()])
    e = f["electrodes"]
    names = [attr_str(s) for s in e["names"][()]]
    rects = e["rect_um"][()]
    rs = e["series_resistance_ohm"][()]
    layout = ElectrodeLayout(
        tuple(
            Electrode(n, tuple(float(v) for v in r), float(x))  # type: ignore[arg-type]
            for n, r, x in zip(names, rects, rs, strict=True)
        ),
        name=attr_str(e.attrs["layout"]),
    )
    gr = f["graph"]
    state = f["state"][()] if "state" in f else None
    return NanowireNetwork(
        geometry=geo,
        junctions=junctions,
        electrodes=layout,
        representation=attr_str(gr.attrs["representation"]),
        junction_model=attr_str(f["junction_model"].attrs["name"]),
        junction_params=get_json_attr(f["junction_model"], "params"),
        state=state,
        metadata=get_json_attr(f["metadata"], "json"),
        resistivity_ohm_m=float(gr.attrs["resistivity_ohm_m"]),
        wire_component=gr["wire_component"][()],
    )
