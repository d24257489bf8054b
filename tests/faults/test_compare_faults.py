"""Comparison and device-story faults: results keyed by content, checks before any cell, exit codes.

Each test reproduces a way a comparison could give a wrong or mixed result, or a documented path
that could fail, and checks that it is refused with one line (or now works).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from _datasets import ramps_dataset
from sklearn.model_selection import train_test_split

import nwmodel.experiments.compare as cmp
import nwphys
from nwhil import main
from nwhil.device import GEOMETRY_PRESETS, JUNCTION_PRESETS
from nwmodel.data.datasets import Dataset, load_dataset
from nwmodel.errors import ExperimentError, ModelValidationError
from nwmodel.experiments._preflight import check_device, check_device_drive, check_subsample_sizes
from nwmodel.experiments._results import data_digest, file_digest
from nwmodel.physical.reservoir import PhysicalReservoirClassifier, SimulatedDeviceSpec
from nwmodel.selection.search import validation_split

GRIDS = {
    "abstract": {"n_units": [20], "gamma": [0.5], "dt": [0.1]},
    "simulated": {"dt_s": [0.1], "n_virtual": [1]},
}
KW = {"grids": GRIDS, "n_seeds": 1, "include_esn": False, "progress": False, "write": False}


def _compare_argv(data_dir: Path, *extra: str) -> list[str]:
    """``nwhil compare`` on SyntheticControl (abstract and simulated, serial, 30 training series)."""
    argv = ["compare", "--datasets", "SyntheticControl", "--backends", "abstract,simulated", "--scheduler"]
    return [*argv, "serial", "--max-train", "30", "--data-dir", str(data_dir), "--quiet", *extra]


def _rc(argv: list[str]) -> int:
    """Exit status of ``nwhil argv`` run in this process (argparse's usage errors raise SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


def _ramps(seed: int = 0, n: int = 6, length: int = 8) -> Dataset:
    return ramps_dataset("Ramps", seed, n, length)


def _device_file(path: Path, seed: int) -> Path:
    net = nwphys.generate(
        n_wires=200,
        size_um=(40.0, 40.0),
        electrodes="mea2x3",
        junction_model="rate_balance",
        junction_params=dict(nwphys.junctions.JUNCTION_PRESETS["ag"][1]),
        seed=seed,
    )
    nwphys.save_network(net, path, force=True)
    return path


# --------------------------------------------------------------------------- results keyed by content


def test_a_cell_of_another_device_file_at_the_same_path_is_refused_naming_both_digests(
    tmp_path: Path,
) -> None:
    dev = _device_file(tmp_path / "ag.h5", seed=3)
    spec = SimulatedDeviceSpec(network_path=str(dev), role_pattern="first-last", n_inputs=2)
    out = tmp_path / "ca"
    first = cmp.run_comparison([_ramps()], ["simulated"], out, device=spec, **KW)
    old = file_digest(dev)
    assert first.executed == ["Ramps__simulated"] and first.cells[0].inputs["device_sha256"] == old
    _device_file(dev, seed=4)  # another device, same path
    new = file_digest(dev)
    assert new != old
    with pytest.raises(
        ExperimentError, match=f"device file sha256 {old}, but the device file now has sha256 {new}"
    ):
        cmp.run_comparison([_ramps()], ["simulated"], out, device=spec, **KW)
    # --force recomputes, on the new device
    again = cmp.run_comparison([_ramps()], ["simulated"], out, device=spec, force=True, **KW)
    assert again.executed == ["Ramps__simulated"] and again.cells[0].inputs["device_sha256"] == new
    stored = json.loads((out / "cells" / "Ramps__simulated.json").read_text())
    assert stored["inputs"]["device_sha256"] == new


def test_a_cell_of_other_data_is_refused_and_force_always_recomputes(tmp_path: Path) -> None:
    first = cmp.run_comparison([_ramps(0)], ["abstract"], tmp_path, **KW)
    # the same configuration: resumed without --force, recomputed with it
    assert cmp.run_comparison([_ramps(0)], ["abstract"], tmp_path, **KW).skipped == ["Ramps__abstract"]
    forced = cmp.run_comparison([_ramps(0)], ["abstract"], tmp_path, force=True, **KW)
    assert forced.executed == ["Ramps__abstract"] and forced.skipped == []
    other = _ramps(1)  # same name and sizes, other values
    with pytest.raises(ExperimentError, match=f"data sha256 {data_digest(_ramps(0))}, but the data now has"):
        cmp.run_comparison([other], ["abstract"], tmp_path, **KW)
    assert first.cells[0].inputs == {"data_sha256": data_digest(_ramps(0))}


def test_data_digest_sees_every_array_and_nothing_else() -> None:
    a = _ramps(0)
    assert data_digest(a) == data_digest(_ramps(0))
    for name in ("X_train", "y_train", "X_test", "y_test"):
        changed = dict(vars(a))
        arr = np.array(changed[name], copy=True)
        arr.flat[0] = arr.flat[0] + 1
        changed[name] = arr
        assert data_digest(Dataset(**changed)) != data_digest(a), name
    assert data_digest(Dataset(**{**vars(a), "notes": "other notes"})) == data_digest(a)


# --------------------------------------------------------------------------- sizes checked first


def _selection_splits_work(y: np.ndarray, n: int) -> bool:
    """Reference: draw the stratified subsample and the 80/20 validation split as a cell does."""
    try:
        ys = y if n >= y.size else train_test_split(y, train_size=n, stratify=y, random_state=0)[0]
        validation_split(np.zeros((ys.size, 1, 1)), ys, task="classification")
    except ValueError:
        return False
    return True


def test_max_train_check_agrees_with_the_splits_it_guards(data_dir: Path) -> None:
    ds = load_dataset("SyntheticControl", data_dir=str(data_dir))
    y = np.asarray(ds.y_train)
    for n in range(6, 61):
        works = _selection_splits_work(y, n)
        if works:
            check_subsample_sizes(ds, n, None)
        else:
            with pytest.raises(ModelValidationError, match=f"max_train={n} is too small for the 6 classes"):
                check_subsample_sizes(ds, n, None)
    # the size the message proposes is the smallest that works
    with pytest.raises(ModelValidationError, match=r"use max_train (\d+) or more") as info:
        check_subsample_sizes(ds, 6, None)
    least = int(info.value.args[0].split("use max_train ")[1].split()[0])
    assert _selection_splits_work(y, least) and not _selection_splits_work(y, least - 1)


@pytest.mark.parametrize("n", [6, 8, 11, 12, 20])
def test_cli_small_max_train_is_a_usage_error_before_any_cell(
    n: int,
    tmp_path: Path,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cmp, "run_cell", lambda *a, **k: pytest.fail("a cell ran"))
    argv = ["compare", "--datasets", "SyntheticControl", "--backends", "abstract", "--scheduler", "serial"]
    argv += ["--max-train", str(n), "--data-dir", str(data_dir), "--quiet", "-o", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--max-train={n} is too small" in err[0] and "use --max-train" in err[0]
    assert not (tmp_path / "o" / "cells").exists()


# --------------------------------------------------------------------------- the device story


@pytest.fixture(scope="module")
def cli_devices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Devices made with ``nwhil device generate``: three layouts with Ag junctions, one without."""
    root = tmp_path_factory.mktemp("devices")
    made = {}
    for name, extra in (
        ("two-terminal", ["--preset", "ag"]),
        ("mea2x2", ["--electrodes", "mea2x2", "--preset", "ag"]),
        ("mea4x4", ["--electrodes", "mea4x4", "--preset", "ag", "--n-inputs", "4"]),
        ("mea4x4-default", ["--electrodes", "mea4x4"]),
    ):
        path = root / f"{name}.h5"
        argv = ["device", "generate", "--wires", "400", "--size", "50x50", "--seed", "1", *extra]
        assert main([*argv, "-o", str(path)]) == 0
        made[name] = path
    return made


@pytest.mark.parametrize("layout", ["two-terminal", "mea2x2", "mea4x4"])
def test_every_cli_generated_layout_drives_a_physical_reservoir(layout: str, cli_devices: dict) -> None:
    spec = SimulatedDeviceSpec(network_path=str(cli_devices[layout]), role_pattern="auto")
    assert check_device(spec) == file_digest(cli_devices[layout])
    inputs, outputs, ground, _ = spec.roles()
    names = list(spec.network().electrodes.names)
    if layout == "two-terminal":
        assert (inputs, outputs, ground) == ([names[0]], [], [names[1]])
    elif layout == "mea2x2":
        assert (inputs, outputs, ground) == ([names[0]], names[1:3], [names[3]])
    else:  # chessboard, the first 4 of its 6 inputs (stored by --n-inputs 4)
        assert len(inputs) == 4 and len(outputs) == 6 and len(ground) == 4
    check_device_drive(spec, ["simulated"], "quick", None, "tuned")
    ds = _ramps(n=3, length=6)
    est = PhysicalReservoirClassifier(device=spec, n_virtual=1, random_state=0).fit(ds.X_train, ds.y_train)
    assert est.predict(ds.X_test).shape == ds.y_test.shape


def test_a_device_of_bright_junctions_is_refused_before_any_cell_naming_the_preset(
    cli_devices: dict,
    tmp_path: Path,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cmp, "run_cell", lambda *a, **k: pytest.fail("a cell ran"))
    argv = _compare_argv(data_dir, "--max-test", "30", "--device", str(cli_devices["mea4x4-default"]))
    assert main([*argv, "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "cannot drive device" in err[0] and "0.001 to 0.1 S" in err[0] and "--preset ag" in err[0]
    assert not (tmp_path / "o" / "cells").exists()


@pytest.mark.parametrize(
    "extra, needle, rc_expected",
    [
        (["--roles", "banana"], "argument --roles: invalid choice", 2),
        (["--electrodes", "banana"], "argument --electrodes: expected 'two-terminal' or 'meaRxC'", 2),
        (["--roles", "rows", "--electrodes", "mea2x2"], "needs >= 3 rows", 1),
        (["--atol", "0"], "--atol: expected a finite number > 0, got 0", 2),
        (["--rtol", "nan"], "--rtol: expected a finite number > 0, got nan", 2),
        (["--rtol", "5"], "--rtol must be in (0, 1], got 5.0", 2),
    ],
)
def test_compare_checks_options_before_any_cell(
    extra: list[str],
    needle: str,
    rc_expected: int,
    tmp_path: Path,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bad roles, layouts and tolerances stop compare before any cell runs, without a traceback;
    usage errors in one line, before the output folder is made."""
    monkeypatch.setattr(cmp, "run_cell", lambda *a, **k: pytest.fail("a cell ran"))
    rc = _rc([*_compare_argv(data_dir, *extra), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert rc == rc_expected
    assert not (tmp_path / "o" / "cells").exists()
    if rc == 2:
        assert len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "o").exists()


def test_compare_refuses_the_cuda_integrator_without_cuda_before_any_cell(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(cmp, "run_cell", lambda *a, **k: pytest.fail("a cell ran"))
    rc = _rc([*_compare_argv(data_dir, "--integrator", "esdirk3-cuda"), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "--integrator esdirk3-cuda" in err[0] and "no CUDA device" in err[0] and "esdirk3-sn" in err[0]
    assert not (tmp_path / "o").exists()


def test_compare_integrator_sets_the_device_method(data_dir: Path) -> None:
    """``--integrator`` replaces only the method of the device's default keywords (so the default,
    named, keys the same stored features as no option)."""
    from nwhil import build_parser
    from nwhil.compare import _preflight

    def spec(*extra: str) -> object:
        args = build_parser().parse_args([*_compare_argv(data_dir, *extra), "-o", "x"])
        return _preflight(args, str(data_dir))[1]

    from nwhil.compare import INTEGRATORS
    from nwphys.dynamics.methods import get_method

    assert all(get_method(n).held is not None for n in INTEGRATORS)  # held-sample methods of the registry
    assert spec("--integrator", "esdirk3-sn") == spec()
    kw = dict(spec("--integrator", "sdirk2-sn").device_kwargs)
    assert kw == {**dict(spec().device_kwargs), "method": "sdirk2-sn"}
    # the tolerances likewise (--atol 3e-6: the device of versions 0.3 and 0.4)
    assert spec("--rtol", "3e-5", "--atol", "1e-6") == spec()
    kw = dict(spec("--atol", "3e-6", "--integrator", "sdirk2-sn").device_kwargs)
    assert kw == {**dict(spec().device_kwargs), "atol": 3e-6, "method": "sdirk2-sn"}


def test_auto_roles_of_every_layout() -> None:
    two = nwphys.make_layout("two-terminal", (50.0, 50.0))
    r = nwphys.assign_roles(two, "auto")
    assert (r.inputs, r.outputs, r.ground) == (("in",), (), ("out",))
    m23 = nwphys.make_layout("mea2x3", (50.0, 50.0))
    r = nwphys.assign_roles(m23, "auto", n_inputs=2)
    assert r == nwphys.assign_roles(m23, "first-last", n_inputs=2)
    m44 = nwphys.make_layout("mea4x4", (50.0, 50.0))
    assert nwphys.assign_roles(m44, "auto") == nwphys.assign_roles(m44, "chessboard")
    with pytest.raises(nwphys.ValidationError, match="n_inputs must be 1 for a two-electrode layout"):
        nwphys.assign_roles(two, "auto", n_inputs=2)


def test_cli_preset_names_are_the_physics_presets() -> None:
    assert set(GEOMETRY_PRESETS) == set(nwphys.geometry.network.PRESETS)
    assert set(JUNCTION_PRESETS) == set(nwphys.junctions.JUNCTION_PRESETS)
    from nwhil.compare import ROLE_PATTERNS
    from nwmodel.physical.mapping import DEVICE_JUNCTION_PARAMS

    assert set(ROLE_PATTERNS) == set(nwphys.geometry.electrodes.ROLE_PATTERNS)
    g_ag = nwphys.junctions.JUNCTION_PRESETS["ag"][1]
    assert math.isclose(1.0 / g_ag["G_max_S"], 12.9e3) and math.isclose(1.0 / g_ag["G_min_S"], 12.9e6)
    assert DEVICE_JUNCTION_PARAMS == g_ag


def test_device_generate_preset_sets_the_junctions_and_n_inputs_is_stored(tmp_path: Path) -> None:
    out = tmp_path / "d.h5"
    argv = ["device", "generate", "--preset", "sydney,ag", "--wires", "200", "--size", "40x40"]
    assert main([*argv, "--electrodes", "mea2x3", "--n-inputs", "2", "--seed", "2", "-o", str(out)]) == 0
    net = nwphys.load_network(out)
    assert net.junction_params == nwphys.junctions.JUNCTION_PRESETS["ag"][1]
    assert net.metadata["n_inputs"] == 2 and net.metadata["junction_preset"] == "ag"
    assert net.geometry.size_um == (40.0, 40.0)
    # the stored n_inputs is the default of every spec over the file
    spec = SimulatedDeviceSpec(network_path=str(out), role_pattern="first-last")
    assert len(spec.roles()[0]) == 2


# --------------------------------------------------------------------------- exit codes, order of checks


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["device", "generate", "--size", "0x10", "--seed", "1"], "argument --size"),
        (["device", "generate", "--electrodes", "banana", "--seed", "1"], "argument --electrodes"),
        (
            ["device", "generate", "--wires", "30", "--length-std", "-1", "--seed", "1"],
            "--length-std must be",
        ),
        (
            [
                "device",
                "generate",
                "--wires",
                "30",
                "--electrodes",
                "mea2x2",
                "--n-inputs",
                "3",
                "--seed",
                "1",
            ],
            "--n-inputs 3",
        ),
        (["device", "generate", "--preset", "torino,sydney", "--seed", "1"], "at most one geometry preset"),
        (["emulator", "serve", "x.h5", "--host", "0.0.0.0"], "argument --host: expected a loopback address"),
    ],
)
def test_usage_errors_exit_2_before_the_output_is_looked_at(
    argv: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = tmp_path / "x.h5"
    existing.write_bytes(b"keep")
    rc = _rc([*argv, *(["-o", str(existing)] if argv[0] == "device" else [])])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], err
    assert "exists" not in err[0] and existing.read_bytes() == b"keep"


def test_generation_budget_message_names_the_cli_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["device", "generate", "--wires", "300000", "--seed", "1", "--max-memory", "0.01"]
    assert main([*argv, "-o", str(tmp_path / "d.h5")]) == 1
    err = capsys.readouterr().err
    assert "raise --max-memory GIB" in err and "memory_limit_bytes" not in err
    assert not (tmp_path / "d.h5").exists()


@pytest.mark.slow
def test_an_unreachable_scheduler_leaves_no_journal(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "--model", "esn", "--dataset", "SyntheticControl", "--seeds", "1", "--data-dir"]
    argv += [str(data_dir), "--no-progress", "-o", str(tmp_path)]
    assert main([*argv, "--scheduler", "tcp://127.0.0.1:1"]) == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_names_the_output_never_a_temporary_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "not-a-dir"
    target.write_text("a file where a folder is expected")
    argv = ["device", "generate", "--wires", "30", "--size", "20x20", "--seed", "1"]
    assert main([*argv, "-o", str(target / "d.h5")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("nwhil: error: cannot write") and str(target) in err, err
    assert ".tmp" not in err and "[Errno" not in err and "\n" not in err


@pytest.mark.parametrize("unique", [False, True])
def test_atomic_write_errors_name_the_file_asked_for(tmp_path: Path, unique: bool) -> None:
    from nwutil import fileio
    missing = tmp_path / "no-such-folder" / "out.h5"
    with pytest.raises(FileNotFoundError) as info:
        with fileio.atomic_path(missing, unique=unique) as tmp:
            tmp.write_text("x")
    assert str(missing) in str(info.value) and ".tmp" not in str(info.value)
    assert ".partial" not in str(info.value) and info.value.errno == 2


def test_run_checks_its_torch_device_before_an_existing_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: --device cuda is valid here")
    result = tmp_path / "run_esn_NARMA10_quick_tuned.json"
    result.write_text("{}\n")
    rc = main(["run", "--model", "esn", "--dataset", "NARMA10", "--device", "cuda", "-o", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "--device cuda: CUDA is not available" in err and "exists" not in err
    assert result.read_text() == "{}\n"


# --------------------------------------------------------------------------- one writer per output

_HOLDER = """
import sys, time
from nwutil.fileio import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("command", ["compare", "run", "device generate", "device plot"])
def test_every_writing_command_refuses_an_output_another_process_writes(
    command: str, tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess
    import sys

    dev = _device_file(tmp_path / "dev.h5", seed=3)
    argv, output = {
        "compare": (
            ["compare", "--datasets", "NARMA10", "--backends", "abstract", "--no-esn", "--quiet"],
            tmp_path / "cmp",
        ),
        "run": (["run", "--model", "esn", "--dataset", "NARMA10", "--no-progress"], tmp_path / "res"),
        "device generate": (["device", "generate", "--wires", "30", "--seed", "1"], tmp_path / "d.h5"),
        "device plot": (["device", "plot", str(dev)], tmp_path / "d.png"),
    }[command]
    locked = output / "run_esn_NARMA10_quick_tuned.json" if command == "run" else output
    locked.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(locked)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        rc = main(
            [*argv, "--scheduler", "serial", "-o", str(output)]
            if command in ("compare", "run")
            else [*argv, "-o", str(output)]
        )
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "is being written by another process" in err and "\n" not in err, err
    assert not (output.is_file() or (output / "cells").exists() or any(output.parent.glob("*.json")))


_WRITER = """
import h5py, time
f = h5py.File({path!r}, "a")
print("open", flush=True)
time.sleep(60)
"""


def test_unreadable_hdf5_messages_say_what_is_wrong_without_h5py_internals(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    from nwphys.errors import DeviceFileError

    good = _device_file(tmp_path / "d.h5", seed=3)
    half = tmp_path / "half.h5"
    half.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # h5py: "... sblock ..."
    with pytest.raises(DeviceFileError) as info:
        nwphys.load_network(half)
    assert str(info.value).endswith("not a readable HDF5 file (truncated or foreign)")
    holder = subprocess.Popen(
        [sys.executable, "-c", _WRITER.format(path=str(good))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(DeviceFileError) as info:
            nwphys.load_network(good)
    finally:
        holder.kill()
        holder.wait()
    assert str(info.value).endswith("another process has it open for writing")
    assert "errno" not in str(info.value) and "synchronously" not in str(info.value)
