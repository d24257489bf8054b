"""Every file the project writes honours the process umask, as a plain ``open(path, "w")`` does.

Each mode test runs under ``umask 022``, ``002`` and ``077`` and compares the mode of what it wrote
with that of a file made by :func:`open` under the same umask (``0o666 & ~umask``), directories
with that of :meth:`pathlib.Path.mkdir` (``0o777 & ~umask``).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _datasets import ramps_dataset

import nwphys
from nwhil import main
from nwmodel import PhysicalReservoirClassifier, SimulatedDeviceSpec
from nwmodel.selection._journal import SelectionJournal
from nwphys.dynamics.integrate import simulate
from nwphys.io.runfile import journal_dir, read_run
from nwutil.fileio import atomic_path, lock_path, output_lock, write_text_atomic

DRIVE = "in=pulse:amp=2,width=0.01,period=0.02;out=gnd"
KW = dict(duration_s=0.1, dt_s=1e-3, chunk_records=10, backend="splu")
GRIDS = {
    "abstract": {"n_units": [20], "gamma": [0.5], "dt": [0.1]},
    "esn": {"n_units": [20], "leak_rate": [0.5]},
}
SPEC = SimulatedDeviceSpec(
    n_wires=200,
    size_um=(40.0, 40.0),
    electrodes="mea2x3",
    role_pattern="first-last",
    n_inputs=2,
    device_seed=3,
)


@pytest.fixture(params=[0o022, 0o002, 0o077], ids=["umask022", "umask002", "umask077"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Set the process umask for the test; the previous one is restored after it."""
    before = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(before)


@pytest.fixture
def network(seed):
    return nwphys.generate("torino", density_per_um2=0.0095, size_um=(60.0, 60.0), seed=seed)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _plain_modes(where: Path) -> tuple[int, int]:
    """Modes of a file from ``open(..., "w")`` and of a directory from ``mkdir()``, made in ``where``."""
    ref_file, ref_dir = where / "plain-reference.txt", where / "plain-reference.d"
    with open(ref_file, "w") as fh:
        fh.write("x")
    ref_dir.mkdir()
    modes = _mode(ref_file), _mode(ref_dir)
    ref_file.unlink()
    ref_dir.rmdir()
    return modes


def _assert_modes(root: Path, umask: int, *, expect: list[str]) -> list[str]:
    """Every file and directory below ``root`` has the mode ``open``/``mkdir`` give; return them.

    ``expect`` lists names (relative to ``root``, glob patterns allowed) that must be among them,
    so that a test cannot pass by checking an empty folder.
    """
    file_mode, dir_mode = _plain_modes(root)
    assert (file_mode, dir_mode) == (0o666 & ~umask, 0o777 & ~umask)
    seen, wrong = [], []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        seen.append(rel)
        want = dir_mode if p.is_dir() else file_mode
        if _mode(p) != want:
            wrong.append(f"{rel}: {oct(_mode(p))}, not {oct(want)}")
    assert wrong == [], f"umask {umask:03o}: {wrong}"
    for pattern in expect:
        assert any(Path(s).match(pattern) for s in seen), f"{pattern} not written; found {seen}"
    return seen


# ------------------------------------------------------------------------ the file utilities


def test_atomic_writes_and_lock_files_honour_the_umask(tmp_path: Path, umask: int) -> None:
    out = tmp_path / "out"
    write_text_atomic(out / "sub" / "cell.json", "{}\n")
    with atomic_path(out / "table.csv", unique=True) as tmp:
        assert _mode(tmp) == 0o666 & ~umask  # already while it is written
        tmp.write_text("a,b\n")
    with atomic_path(out / "fixed.txt") as tmp:
        tmp.write_text("x\n")
    with output_lock(out / "run.h5"):
        assert _mode(lock_path(out / "run.h5")) == 0o666 & ~umask
    _assert_modes(out, umask, expect=["sub", "sub/cell.json", "table.csv", "fixed.txt"])


def test_unique_temporary_names_stay_exclusive(tmp_path: Path) -> None:
    """Threads writing one name each get their own temporary file; no write is lost."""
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for k in range(20):
                write_text_atomic(tmp_path / f"f{i}.txt", f"{i} {k}\n")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0.txt", "f1.txt", "f2.txt", "f3.txt"]
    assert [(tmp_path / f"f{i}.txt").read_text() for i in range(4)] == [f"{i} 19\n" for i in range(4)]


@pytest.mark.parametrize("shell_umask", ["022", "002", "077"])
def test_the_umask_of_the_shell_is_honoured(tmp_path: Path, shell_umask: str) -> None:
    """End to end: a process started under ``umask`` writes what ``touch`` would."""
    code = "import sys; from nwutil.fileio import write_text_atomic; write_text_atomic(sys.argv[1], 'x')"
    script = f'umask {shell_umask} && touch "$1.ref" && "$2" -c "$3" "$1"'
    subprocess.run(
        ["sh", "-c", script, "sh", str(tmp_path / "a.txt"), sys.executable, code], check=True, timeout=60
    )
    assert _mode(tmp_path / "a.txt") == _mode(tmp_path / "a.txt.ref") == 0o666 & ~int(shell_umask, 8)


# ------------------------------------------------------------------------ what nwphys writes


def test_device_file_honours_the_umask(tmp_path: Path, umask: int, network) -> None:
    (tmp_path / "out").mkdir()
    nwphys.save_network(network, tmp_path / "out" / "dev.h5")
    _assert_modes(tmp_path / "out", umask, expect=["dev.h5"])


def test_run_file_its_lock_and_its_journal_honour_the_umask(tmp_path: Path, umask: int, network) -> None:
    out = tmp_path / "out"
    out.mkdir()
    run = out / "run.h5"
    during: list[list[str]] = []

    def stop(info):
        if info["rows"] == 30:  # three chunks committed to the journal, the lock held
            during.append(_assert_modes(out, umask, expect=["run.h5", "run.h5.lock", "run.h5.parts/*.h5"]))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate(network, DRIVE, out_path=run, callback=stop, **KW)
    assert len(during) == 1
    assert read_run(run)["checkpoint_rows"] == 30
    _assert_modes(out, umask, expect=["run.h5"])
    simulate(network, DRIVE, out_path=run, resume=True, **KW)
    assert read_run(run)["complete"]
    assert not journal_dir(run).exists()
    _assert_modes(out, umask, expect=["run.h5"])


# ------------------------------------------------------------------------ what nwmodel writes


def test_comparison_results_honour_the_umask(tmp_path: Path, umask: int) -> None:
    import nwmodel.experiments.compare as cmp

    out = tmp_path / "out" / "cmp"
    res = cmp.run_comparison(
        [ramps_dataset("Ramps", 0, n=8, length=10)],
        ["abstract"],
        out,
        grids=GRIDS,
        n_seeds=1,
        progress=False,
    )
    assert sorted(Path(p).name for p in res.paths.values()) == [
        "comparison.csv",
        "comparison.h5",
        "comparison.md",
        "comparison.png",
    ]
    _assert_modes(
        tmp_path / "out",
        umask,
        expect=["cmp", "cmp/cells/*.json", *(f"cmp/comparison.{s}" for s in ("csv", "h5", "md", "png"))],
    )


def test_cli_run_result_and_results_files_honour_the_umask(
    tmp_path: Path, umask: int, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["run", "--model", "esn", "--dataset", "SyntheticControl", "--data-dir", str(data_dir)]
    argv += ["--grid", "quick", "--seeds", "1", "--no-progress", "-o", str(out / "json")]
    assert main([*argv, "--results-dir", str(out / "tsml")]) == 0, capsys.readouterr().err
    _assert_modes(
        out,
        umask,
        expect=[
            "json/run_esn_SyntheticControl_quick_tuned.json",
            "tsml/ESN/Predictions/SyntheticControl/testResample0.csv",
            "tsml/classification/accuracy/ESN_accuracy.csv",
        ],
    )


def test_cli_plot_honours_the_umask(
    tmp_path: Path, umask: int, network, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run.h5"
    simulate(network, DRIVE, out_path=run, **{**KW, "duration_s": 0.02})
    assert main(["plot", str(run), "--no-network", "-o", str(tmp_path / "out" / "fig.png")]) == 0, (
        capsys.readouterr().err
    )
    _assert_modes(tmp_path / "out", umask, expect=["fig.png"])


def test_selection_journal_honours_the_umask(tmp_path: Path, umask: int) -> None:
    with SelectionJournal(tmp_path / "out" / "sel.journal.jsonl", {"a": 1}) as journal:
        journal.record("val", [(0, 0, 0.5, "")], 1.0)
    _assert_modes(tmp_path / "out", umask, expect=["sel.journal.jsonl"])


def test_feature_store_honours_the_umask(tmp_path: Path, umask: int) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 1, 8)), np.arange(6) % 2
    store = tmp_path / "out" / "store"
    PhysicalReservoirClassifier(SPEC, feature_store=store, n_virtual=2, random_state=0, features="last").fit(
        X, y
    )
    _assert_modes(tmp_path / "out", umask, expect=["store/*/*.npz"])
