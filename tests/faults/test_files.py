"""Run files and measurement files: exact resume check, output-is-input refusal, every field kept.

Regression tests: a resume with another sampled drive mixed two experiments (the drive was compared
by its spec, ``<Sampled>`` for any sampled waveform); ``nwhil simulate dev.h5 -o dev.h5 --force``
replaced the device with the run file; measurement files dropped ``node_voltage_V``, failed on a
device without outputs and left a half-written file behind.
"""

from __future__ import annotations

import dataclasses
import os

import h5py
import numpy as np
import pytest

import nwphys
from hardware import (
    HardwareValidationError,
    Measurement,
    MeasurementFileError,
    MeasurementWriter,
    SimulatedDevice,
    StarDevice,
    read_measurement,
    record,
)
from nwhil import main
from nwphys.dynamics.drives import Drive, Sampled, parse_drive
from nwphys.dynamics.integrate import simulate
from nwphys.errors import DeviceFileError
from nwphys.io.runfile import journal_dir, read_run
from nwutil.fileio import OutputLockedError, output_lock, output_locked

DRIVE = "in=pulse:amp=2,width=0.01,period=0.02;out=gnd"
KEYS = ("t_s", "g", "electrode_current_A", "electrode_voltage_V")


@pytest.fixture
def network(seed):
    return nwphys.generate("torino", density_per_um2=0.0095, size_um=(60.0, 60.0), seed=seed)


@pytest.fixture
def device_file(tmp_path, network):
    return nwphys.save_network(network, tmp_path / "dev.h5")


# ---------------------------------------------------------------------------- resume check
def _sampled(values: np.ndarray) -> Drive:
    return Drive({"in": Sampled(values, dt_s=1e-3), "out": "gnd"})


def _stop_after(rows: int):
    return lambda info: info["rows"] < rows


def test_drive_digest_sees_every_sampled_value_bit_for_bit(rng) -> None:
    v = rng.uniform(-2.0, 2.0, 100)
    w = v.copy()
    w[63] = np.nextafter(w[63], np.inf)  # one value, one ulp
    assert _sampled(v).to_spec() == _sampled(w).to_spec()  # the spec cannot tell them apart
    assert _sampled(v).digest() == _sampled(v.copy()).digest()
    assert _sampled(v).digest() != _sampled(w).digest()
    assert parse_drive(DRIVE).digest() != parse_drive(DRIVE.replace("amp=2", "amp=2.0000001")).digest()
    assert parse_drive("in=1;out=gnd").digest() != parse_drive("in=1;out=float").digest()


KW = dict(duration_s=0.1, dt_s=1e-3, chunk_records=10, backend="splu")


def test_resume_refuses_a_sampled_drive_changed_by_one_value(tmp_path, network, rng) -> None:
    v = rng.uniform(0.0, 2.0, 101)
    run = tmp_path / "run.h5"
    part = simulate(network, _sampled(v), out_path=run, callback=_stop_after(40), **KW)
    assert part.status == 1
    w = v.copy()
    w[80] += 0.25  # a sample the resumed part would apply
    with pytest.raises(
        DeviceFileError,
        match=r"different parameters: drive \(sha256 of the full content\): "
        r"stored [0-9a-f]{16}, given [0-9a-f]{16}$",
    ):
        simulate(network, _sampled(w), out_path=run, resume=True, **KW)
    assert read_run(run)["checkpoint_rows"] == 40  # the refused resume wrote nothing


def test_resume_refuses_a_changed_tolerance_naming_it(tmp_path, network) -> None:
    run = tmp_path / "run.h5"
    simulate(network, DRIVE, out_path=run, callback=_stop_after(40), **KW)
    with pytest.raises(DeviceFileError, match=r"different parameters: rtol: stored 0\.003, given 0\.001$"):
        simulate(network, DRIVE, out_path=run, resume=True, rtol=1e-3, **KW)
    g0 = np.full(network.n_junctions, 0.01)
    with pytest.raises(DeviceFileError, match=r"g0 \(sha256 of the full content\)"):
        simulate(network, DRIVE, out_path=run, resume=True, g0=g0, **KW)
    with pytest.raises(
        DeviceFileError,
        match=r"duration_s: stored 0\.1, given 0\.2; rtol: stored 0\.003, "
        r"given 0\.001$",
    ):
        simulate(network, DRIVE, out_path=run, resume=True, **{**KW, "duration_s": 0.2, "rtol": 1e-3})


def test_resume_with_identical_parameters_equals_the_uninterrupted_run(tmp_path, network, rng) -> None:
    v = rng.uniform(0.0, 2.0, 101)
    full = simulate(network, _sampled(v), out_path=tmp_path / "full.h5", **KW)
    run = tmp_path / "run.h5"
    simulate(network, _sampled(v), out_path=run, callback=_stop_after(40), **KW)
    done = simulate(network, _sampled(v.copy()), out_path=run, resume=True, **KW)
    assert done.success
    stored = read_run(run)
    assert stored["complete"] and not journal_dir(run).exists()
    for k in KEYS:
        np.testing.assert_array_equal(getattr(done, k), getattr(full, k), err_msg=k)
        np.testing.assert_array_equal(stored[k], getattr(full, k), err_msg=k)


def test_a_run_killed_mid_way_keeps_its_committed_chunks(tmp_path, network) -> None:
    """An exception after 3 chunks (the in-process image of a kill): 30 records on disk, resumable."""
    full = simulate(network, DRIVE, **KW)
    run = tmp_path / "run.h5"

    def crash(info):
        if info["rows"] == 30:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate(network, DRIVE, out_path=run, callback=crash, **KW)
    stored = read_run(run)
    assert not stored["complete"] and stored["checkpoint_rows"] == 30
    np.testing.assert_array_equal(stored["g"], full.g[:30])
    assert stored["status_name"] == "interrupted" and "resume=True" in stored["message"]
    # a chunk left by an earlier version of the file at the next row is not taken for this run's
    journal_dir(run).mkdir(exist_ok=True)
    with h5py.File(journal_dir(run) / "r000000000030.h5", "w") as f:
        f.attrs.update({"format": "nwhil-run-chunk", "epoch": "another", "row0": 30, "rows": 40})
    assert read_run(run)["checkpoint_rows"] == 30
    done = simulate(network, DRIVE, out_path=run, resume=True, **KW)
    np.testing.assert_array_equal(done.g, full.g)


def test_creating_a_run_file_that_fails_leaves_no_file(tmp_path, network, monkeypatch) -> None:
    run = tmp_path / "run.h5"

    def boom(*args, **kwargs):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(h5py.Group, "create_group", boom)
    with pytest.raises(OSError, match="disk full"):
        simulate(network, DRIVE, out_path=run, **KW)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- output is an input
def _simulate_cli(device, out, *extra: str) -> list[str]:
    return [
        "simulate",
        str(device),
        "--drive",
        DRIVE,
        "--duration",
        "0.01",
        "--dt",
        "1e-3",
        "-o",
        str(out),
        "--quiet",
        *extra,
    ]


@pytest.mark.parametrize("extra", [(), ("--force",), ("--resume",)])
def test_cli_refuses_to_write_the_run_over_its_device(tmp_path, device_file, capsys, extra) -> None:
    before = device_file.read_bytes()
    link = tmp_path / "link.h5"
    link.symlink_to(device_file)
    (tmp_path / "sub").mkdir()
    for out in (device_file, tmp_path / "sub" / ".." / "dev.h5", link):
        assert main(_simulate_cli(device_file, out, *extra)) == 1
        err = capsys.readouterr().err
        assert err.startswith("nwhil: error: output ") and err.count("\n") == 1, err
        assert "is the device file" in err and "(the same file)" in err
    assert device_file.read_bytes() == before
    assert nwphys.load_network(device_file).n_junctions > 0
    # another output is fine
    assert main(_simulate_cli(device_file, tmp_path / "run.h5")) == 0


# ---------------------------------------------------------------------------- measurement files
def _full_measurement(
    n: int, rng: np.random.Generator, *, n_in=2, n_out=3, n_gnd=1, n_probe=4
) -> Measurement:
    """A Measurement with every field set (the list comes from the dataclass)."""
    shapes = {
        "t_s": (n,),
        "input_V": (n, n_in),
        "output_V": (n, n_out),
        "input_current_A": (n, n_in),
        "ground_current_A": (n, n_gnd),
        "compliance": (n, n_in),
        "node_voltage_V": (n, n_probe),
        "ground_compliance": (n, n_gnd),
    }
    values = {}
    for f in dataclasses.fields(Measurement):
        if f.name == "metadata":
            values[f.name] = {
                "kind": "apply",
                "dt_s": 1e-3,
                "input_names": ["a", "b"],
                "output_names": ["o1", "o2", "o3"],
                "ground_names": ["g"],
                "backend": "test",
            }
        elif f.name in ("compliance", "ground_compliance"):
            values[f.name] = rng.random(shapes[f.name]) < 0.3
        else:
            assert f.name in shapes, f"new Measurement field {f.name}: give it a value here"
            values[f.name] = rng.normal(size=shapes[f.name])
    return Measurement(**values)


def test_measurement_file_round_trips_every_field(tmp_path, rng) -> None:
    m = _full_measurement(23, rng)
    p = tmp_path / "m.h5"
    with MeasurementWriter(
        p, input_names=["a", "b"], output_names=["o1", "o2", "o3"], ground_names=["g"], chunk_steps=5
    ) as w:
        for s, e in ((0, 7), (7, 11), (11, 23)):  # batches across chunk boundaries
            w.append(
                Measurement(
                    **{
                        f.name: getattr(m, f.name)[s:e] for f in dataclasses.fields(m) if f.name != "metadata"
                    },
                    metadata=m.metadata,
                )
            )
    back, info = read_measurement(p)
    assert info["status"] == "complete" and info["n_complete"] == 23
    for f in dataclasses.fields(Measurement):
        a, b = getattr(back, f.name), getattr(m, f.name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype, f.name
            np.testing.assert_array_equal(a, b, err_msg=f.name)
        else:
            assert a == b, f.name


def test_record_keeps_node_voltages_and_zero_width_outputs(tmp_path, device_file) -> None:
    # roles --inputs in --ground out: no output electrode, so output_V has width 0
    dev = SimulatedDevice(device_file, inputs=["in"], outputs=[], ground=["out"], probe_nodes=[0, 1, 2])
    v = np.linspace(0.0, 1.0, 23)[:, None]
    m = record(dev, v, 1e-3, tmp_path / "m.h5", chunk_steps=5)
    back, info = read_measurement(tmp_path / "m.h5")
    assert info["status"] == "complete" and info["n_complete"] == 23
    assert back.output_V.shape == (23, 0) and m.output_V.shape == (23, 0)
    assert back.node_voltage_V.shape == (23, 3)
    for f in dataclasses.fields(Measurement):
        if f.name != "metadata":
            np.testing.assert_array_equal(getattr(back, f.name), getattr(m, f.name), err_msg=f.name)
    # a hand-solvable device without outputs
    star = record(StarDevice(outputs=()), np.full((9, 2), 0.1), 1e-3, tmp_path / "s.h5", chunk_steps=4)
    assert read_measurement(tmp_path / "s.h5")[0].output_V.shape == (9, 0) == star.output_V.shape


def test_batches_must_carry_the_same_fields(tmp_path, rng) -> None:
    m = _full_measurement(6, rng)
    bare = dataclasses.replace(m, node_voltage_V=None)
    with (
        pytest.raises(HardwareValidationError, match="node_voltage_V is None in this batch but present"),
        MeasurementWriter(
            tmp_path / "m.h5",
            input_names=["a", "b"],
            output_names=["o1", "o2", "o3"],
            ground_names=["g"],
            chunk_steps=4,
        ) as w,
    ):
        w.append(m)
        w.append(bare)
    back, info = read_measurement(tmp_path / "m.h5")
    assert info["status"] == "aborted" and back.node_voltage_V.shape == (6, 4)


def test_failed_creation_leaves_no_half_written_file(tmp_path, monkeypatch) -> None:
    p = tmp_path / "m.h5"
    good = record(StarDevice(), np.full((8, 2), 0.2), 1e-3, p, chunk_steps=4)
    real = h5py.Group.create_dataset
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(args[0] if args else kwargs.get("name"))
        if len(calls) == 3:
            raise OSError("disk full (injected)")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(OSError, match="disk full"):
        record(StarDevice(), np.full((8, 2), 0.3), 1e-3, tmp_path / "new.h5")
    assert not (tmp_path / "new.h5").exists()
    calls.clear()
    with pytest.raises(OSError, match="disk full"):
        record(StarDevice(), np.full((8, 2), 0.3), 1e-3, p, force=True)
    monkeypatch.undo()
    back, info = read_measurement(p)  # the old file is untouched
    assert info["status"] == "complete"
    np.testing.assert_array_equal(back.input_V, good.input_V)
    assert sorted(q.name for q in tmp_path.iterdir()) == ["m.h5"]


def test_reading_a_damaged_measurement_file_is_a_file_error(tmp_path) -> None:
    p = tmp_path / "m.h5"
    with h5py.File(p, "w") as f:
        f.attrs.update({"format": "nanowire-hil/measurement", "format_version": 1, "n_complete": 0})
    with pytest.raises(MeasurementFileError, match="damaged or incomplete"):
        read_measurement(p)


# ---------------------------------------------------------------------------- one writer per output
HOLD_LOCK = """
import sys
from nwutil.fileio import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""

BLOCKED_RUN = """
import sys
import nwphys
from nwphys.dynamics.integrate import simulate
net = nwphys.load_network(sys.argv[1])

def wait_after_two_chunks(info):
    if info["rows"] == 20:
        print("committed", flush=True)
        sys.stdin.readline()
    return True

simulate(net, sys.argv[3], out_path=sys.argv[2], callback=wait_after_two_chunks, **eval(sys.argv[4]))
"""


def _child(code: str, *args: str):
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = proc.stdout.readline().strip()
    if not first:
        proc.wait(timeout=60)
        pytest.fail(proc.stderr.read())
    return proc, first


@pytest.mark.skipif(os.name != "posix", reason="flock and SIGKILL")
def test_output_lock_admits_one_writer_and_is_freed_by_a_kill(tmp_path) -> None:
    import signal
    import threading

    out = tmp_path / "sub" / "run.h5"
    out.parent.mkdir()
    proc, first = _child(HOLD_LOCK, str(out))
    try:
        assert first == "held"
        with (
            pytest.raises(
                OutputLockedError,
                match=r"^output '.*run\.h5' is being written by another "
                r"process; wait until it finishes or stop it, then try again$",
            ),
            output_lock(out),
        ):
            pass
        assert output_locked(out)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert not output_locked(out)  # the kernel released the killed holder's lock
    with output_lock(out) as held:
        assert held == out
        with output_lock(tmp_path / "sub" / ".." / "sub" / "run.h5"):  # the same thread may nest
            pass
        errors = []

        def other_thread() -> None:
            try:
                with output_lock(out):
                    pass
            except OutputLockedError as exc:
                errors.append(str(exc))

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert len(errors) == 1 and "another process" in errors[0]
    assert sorted(p.name for p in out.parent.iterdir()) == []  # no lock file left behind


@pytest.mark.skipif(os.name != "posix", reason="flock and SIGKILL")
def test_a_second_writer_is_refused_at_once_and_a_killed_run_reads_interrupted(
    tmp_path, device_file, network, capsys
) -> None:
    """Regression: two ``simulate --resume`` on one output both computed, then one failed and left
    its journal behind; a killed run read back as 'running'."""
    import signal

    kw = dict(duration_s=0.05, dt_s=1e-3, chunk_records=10, backend="splu")
    full = simulate(network, DRIVE, **kw)
    run = tmp_path / "run.h5"
    proc, first = _child(BLOCKED_RUN, str(device_file), str(run), DRIVE, repr(kw))
    try:
        assert first == "committed"
        state = read_run(run)
        assert state["status_name"] == "running" and state["checkpoint_rows"] == 20
        chunks = sorted(p.name for p in journal_dir(run).iterdir())
        for extra in (("--resume",), ("--force",), ()):
            assert main(_simulate_cli(device_file, run, *extra)) == 1
            err = capsys.readouterr().err
            assert err == (
                f"nwhil: error: output {str(run)!r} is being written by another process; "
                "wait until it finishes or stop it, then try again\n"
            ), err
        with pytest.raises(OutputLockedError, match="is being written by another process"):
            simulate(network, DRIVE, out_path=run, resume=True, **kw)
        assert sorted(p.name for p in journal_dir(run).iterdir()) == chunks
        assert read_run(run)["checkpoint_rows"] == 20
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    killed = read_run(run)
    assert killed["status_name"] == "interrupted" and killed["status"] == -1 and not killed["complete"]
    assert killed["message"].startswith("interrupted: the process writing it stopped without closing it")
    assert killed["checkpoint_rows"] == 20
    assert main(_simulate_cli(device_file, run)) == 1
    err = capsys.readouterr().err
    assert "holds an interrupted run (t = 0.02 of 0.05 s); pass --resume to continue it" in err, err
    done = simulate(network, DRIVE, out_path=run, resume=True, **kw)
    assert done.success and not journal_dir(run).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.h5", "run.h5"]
    for k in KEYS:
        np.testing.assert_array_equal(done.__getattribute__(k), full.__getattribute__(k), err_msg=k)
    assert done.n_steps == full.n_steps  # the killed session's committed work is counted
