"""One set of HDF5 conventions for device, run and measurement files; one atomic-write helper.

Every kind of file carries the same header (``format``, ``format_version``, ``package_version``),
is refused with its package's domain exception and a one-line message naming the file when it is
missing, foreign, of another kind or newer, and still reads when written before the header
gained ``package_version``. Writes through :func:`nwutil.fileio.atomic_path` leave the old file
and no temporary behind when they fail.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

import nwphys
from hardware import MeasurementFileError, StarDevice, read_measurement, record
from nwphys.dynamics.integrate import simulate
from nwphys.errors import DeviceFileError
from nwphys.io.runfile import read_run
from nwutil import hdf5
from nwutil.fileio import atomic_path, json_default, write_text_atomic

DRIVE = "in=pulse:amp=2,width=0.01,period=0.02;out=gnd"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A device file, a finished run file and a complete measurement file."""
    d = tmp_path_factory.mktemp("files")
    net = nwphys.generate("torino", density_per_um2=0.0095, size_um=(60.0, 60.0), seed=20261128)
    device = nwphys.save_network(net, d / "dev.h5")
    simulate(net, DRIVE, duration_s=0.01, dt_s=1e-3, out_path=d / "run.h5", chunk_records=4)
    record(StarDevice(), np.full((9, 2), 0.25), 1e-3, d / "m.h5", chunk_steps=4)
    return {"device": device, "run": d / "run.h5", "measurement": d / "m.h5"}


#: kind -> (format, version, reader, its domain exception, how its messages name the file)
KINDS = {
    "device": (hdf5.DEVICE_FORMAT, 1, nwphys.load_network, DeviceFileError, "device file"),
    "run": (hdf5.RUN_FORMAT, 2, read_run, DeviceFileError, "run file"),
    "measurement": (hdf5.MEASUREMENT_FORMAT, 2, read_measurement, MeasurementFileError, "measurement file"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_file_carries_the_header(files, kind) -> None:
    fmt, version, _, _, _ = KINDS[kind]
    with h5py.File(files[kind], "r") as f:
        assert f.attrs[hdf5.FORMAT_ATTR] == fmt
        assert int(f.attrs[hdf5.VERSION_ATTR]) == version
        assert f.attrs[hdf5.PACKAGE_VERSION_ATTR] == importlib.metadata.version("nanowire-hil")


def test_format_names_are_those_files_always_had() -> None:
    # files written before keep reading: the values are part of the file format
    assert (hdf5.DEVICE_FORMAT, hdf5.RUN_FORMAT, hdf5.RUN_CHUNK_FORMAT) == (
        "nanowire-hil-device",
        "nwhil-run",
        "nwhil-run-chunk",
    )
    assert hdf5.MEASUREMENT_FORMAT == "nanowire-hil/measurement"
    assert hdf5.COMPARISON_FORMAT == "nwhil-comparison"
    assert (hdf5.FORMAT_ATTR, hdf5.VERSION_ATTR, hdf5.STATUS_ATTR) == ("format", "format_version", "status")


def test_status_vocabulary_in_measurement_and_run_files(files) -> None:
    assert read_measurement(files["measurement"])[1]["status"] == hdf5.STATUS_COMPLETE
    assert read_run(files["run"])["status"] == hdf5.RUN_STATUS_CODES[hdf5.STATUS_COMPLETE] == 0
    assert hdf5.RUN_STATUS_CODES == {"running": -2, "complete": 0, "stopped": 1}


def _one_line(exc: pytest.ExceptionInfo[BaseException], path: Path) -> str:
    text = str(exc.value)
    assert "\n" not in text and repr(str(path)) in text, text
    return text


@pytest.mark.parametrize("kind", KINDS)
def test_refusals_name_the_file_in_one_line_with_the_domain_exception(tmp_path, files, kind) -> None:
    fmt, version, read, error, what = KINDS[kind]
    missing = tmp_path / "missing.h5"
    with pytest.raises(error) as exc:
        read(missing)
    assert _one_line(exc, missing) == f"{what} {str(missing)!r} not found"
    foreign = tmp_path / "notes.h5"
    foreign.write_text("not hdf5")
    with pytest.raises(error) as exc:
        read(foreign)
    # what it means for the file, without h5py's own text (library internals and flags)
    assert _one_line(exc, foreign) == (
        f"cannot read {what} {str(foreign)!r}: not a readable HDF5 file (truncated or foreign)"
    )
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        hdf5.write_header(f, "something-else", 1)
    with pytest.raises(error) as exc:
        read(other)
    assert _one_line(exc, other) == (
        f"{str(other)!r} is not a nanowire-hil {what} (format attribute 'something-else', expected {fmt!r})"
    )
    newer = tmp_path / "newer.h5"
    with h5py.File(newer, "w") as f:
        hdf5.write_header(f, fmt, version + 1)
    with pytest.raises(error) as exc:
        read(newer)
    assert f"{what} {str(newer)!r} has format version {version + 1}; this nanowire-hil reads versions" in (
        _one_line(exc, newer)
    )


@pytest.mark.parametrize("kind", KINDS)
def test_files_without_package_version_still_read(tmp_path, files, kind) -> None:
    _, _, read, _, _ = KINDS[kind]
    old = tmp_path / files[kind].name
    old.write_bytes(files[kind].read_bytes())
    with h5py.File(old, "a") as f:  # as measurement files were written before the shared header
        del f.attrs[hdf5.PACKAGE_VERSION_ATTR]
    back, ref = read(old), read(files[kind])
    if kind == "device":
        assert back == ref
    elif kind == "run":
        np.testing.assert_array_equal(back["g"], ref["g"])
        assert back["params"] == ref["params"]
    else:
        np.testing.assert_array_equal(back[0].output_V, ref[0].output_V)
        assert back[1] == ref[1]


def test_json_attributes_round_trip_numpy_values(tmp_path) -> None:
    p = tmp_path / "j.h5"
    value = {"b": np.float64(0.1), "a": np.arange(3), "path": Path("x/y.h5")}
    with h5py.File(p, "w") as f:
        hdf5.set_json_attr(f, "params", value, sort_keys=True)
    with h5py.File(p, "r") as f:
        assert f.attrs["params"] == '{"a": [0, 1, 2], "b": 0.1, "path": "x/y.h5"}'
        assert hdf5.get_json_attr(f, "params") == {"a": [0, 1, 2], "b": 0.1, "path": "x/y.h5"}
        assert hdf5.get_json_attr(f, "absent", None) is None
        with pytest.raises(KeyError, match="attribute 'absent' is missing"):
            hdf5.get_json_attr(f, "absent")
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        json.dumps(object(), default=json_default)


@pytest.mark.parametrize("unique", [False, True])
def test_atomic_path_keeps_the_old_file_and_leaves_no_temporary(tmp_path, unique) -> None:
    p = tmp_path / "out.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(p, unique=unique) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert p.read_text() == "old" and sorted(x.name for x in tmp_path.iterdir()) == ["out.txt"]
    with atomic_path(p, unique=unique) as tmp:
        assert tmp.parent == p.parent and tmp != p
        tmp.write_text("new")
    assert p.read_text() == "new" and sorted(x.name for x in tmp_path.iterdir()) == ["out.txt"]


def test_write_text_atomic_makes_parents_and_keeps_line_endings(tmp_path) -> None:
    p = write_text_atomic(tmp_path / "a" / "b.csv", "x,y\r\n1,2\r\n", newline="")
    assert p.read_bytes() == b"x,y\r\n1,2\r\n"
    assert sorted(x.name for x in p.parent.iterdir()) == ["b.csv"]


def test_no_package_imports_a_private_module_of_another() -> None:
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for pkg in ("nwphys", "hardware", "nwmodel"):
        others = [o for o in ("nwphys", "hardware", "nwmodel") if o != pkg]
        for src in sorted((root / pkg).rglob("*.py")):
            for n, line in enumerate(src.read_text().splitlines(), 1):
                if any(f"{o}._" in line and ("import" in line) for o in others):
                    offenders.append(f"{src.relative_to(root)}:{n}: {line.strip()}")
    assert offenders == []
