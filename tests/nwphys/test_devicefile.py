"""HDF5 device files: exact round trip, clear errors, no silent overwrite, atomic writes."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import nwphys
from nwphys import DeviceFileError, load_network, save_network
from nwphys.io import devicefile as df


def _assert_same(a: nwphys.NanowireNetwork, b: nwphys.NanowireNetwork) -> None:
    assert np.array_equal(a.geometry.centers_um, b.geometry.centers_um)
    assert np.array_equal(a.geometry.angles_rad, b.geometry.angles_rad)
    assert np.array_equal(a.geometry.lengths_um, b.geometry.lengths_um)
    assert a.geometry.size_um == b.geometry.size_um and a.geometry.diameter_nm == b.geometry.diameter_nm
    assert np.array_equal(a.junctions.wires, b.junctions.wires)
    assert np.array_equal(a.junctions.xy_um, b.junctions.xy_um)
    assert a.electrodes == b.electrodes
    assert a.representation == b.representation and a.resistivity_ohm_m == b.resistivity_ohm_m
    assert a.junction_model == b.junction_model and a.junction_params == b.junction_params
    assert (a.state is None) == (b.state is None)
    if a.state is not None:
        assert np.array_equal(a.state, b.state)
    assert a.metadata == b.metadata
    assert np.array_equal(a.wire_component, b.wire_component)
    assert a == b


@pytest.mark.parametrize(
    "kwargs",
    [
        {"preset": "torino"},
        {
            "preset": "sydney",
            "electrodes": "mea4x4",
            "representation": "multinodal",
            "series_resistance_ohm": 82.0,
        },
        {"preset": "sydney", "junction_model": "filament_gap", "junction_params": {"Vset_V": 0.01}},
    ],
)
def test_exact_round_trip(tmp_path: Path, seed: int, kwargs: dict) -> None:
    preset = kwargs.pop("preset")
    net = nwphys.generate(preset, seed=seed, **kwargs)
    rng = np.random.default_rng(seed)
    net = net.with_state(rng.uniform(0, 1, net.n_junctions))
    path = save_network(net, tmp_path / "dev.h5")
    back = load_network(path)
    _assert_same(net, back)
    # the circuit built from the loaded file is the same circuit
    c1, c2 = net.circuit(), back.circuit()
    assert np.array_equal(c1.edges, c2.edges)
    assert np.array_equal(c1.fixed_conductance_S, c2.fixed_conductance_S)


def test_round_trip_without_state(tmp_path: Path, seed: int) -> None:
    net = nwphys.generate(n_wires=50, size_um=(100.0, 100.0), seed=seed)  # disconnected device
    back = load_network(save_network(net, tmp_path / "d.h5"))
    assert back.state is None and not back.connected
    _assert_same(net, back)


def test_no_overwrite_without_force(tmp_path: Path, seed: int) -> None:
    a = nwphys.generate("sydney", seed=seed)
    b = nwphys.generate("sydney", seed=seed + 1)
    p = save_network(a, tmp_path / "d.h5")
    with pytest.raises(DeviceFileError, match=r"exists; pass force=True \(--force\) to overwrite it"):
        save_network(b, p)
    assert load_network(p) == a
    save_network(b, p, force=True)
    assert load_network(p) == b


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path, seed: int, monkeypatch) -> None:
    a = nwphys.generate("sydney", seed=seed)
    p = save_network(a, tmp_path / "d.h5")

    def boom(f, net):
        f.create_dataset("partial", data=np.zeros(3))
        raise RuntimeError("disk full")

    monkeypatch.setattr(df, "_write", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_network(a, p, force=True)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["d.h5"]  # no temporary left behind
    assert load_network(p) == a


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DeviceFileError, match=r"device file '.*nope.h5' not found"):
        load_network(tmp_path / "nope.h5")


def test_truncated_file(tmp_path: Path, seed: int) -> None:
    p = save_network(nwphys.generate("sydney", seed=seed), tmp_path / "d.h5")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(DeviceFileError, match=r"(not a readable HDF5 file|damaged or incomplete)"):
        load_network(p)


def test_foreign_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(DeviceFileError, match=r"not a readable HDF5 file \(truncated or foreign\)"):
        load_network(text)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=np.arange(3))
    with pytest.raises(DeviceFileError, match=r"is not a nanowire-hil device file \(format attribute None"):
        load_network(other)
    newer = tmp_path / "newer.h5"
    with h5py.File(newer, "w") as f:
        f.attrs["format"] = df.DEVICE_FORMAT
        f.attrs["format_version"] = 99
    with pytest.raises(DeviceFileError, match=r"has format version 99"):
        load_network(newer)


def test_incomplete_device_file(tmp_path: Path, seed: int) -> None:
    p = save_network(nwphys.generate("sydney", seed=seed), tmp_path / "d.h5")
    with h5py.File(p, "a") as f:
        del f["junctions/xy_um"]
    with pytest.raises(DeviceFileError, match=r"damaged or incomplete"):
        load_network(p)


def test_missing_directory(tmp_path: Path, seed: int) -> None:
    with pytest.raises(DeviceFileError, match=r"directory .* does not exist"):
        save_network(nwphys.generate("sydney", seed=seed), tmp_path / "no" / "d.h5")
