"""``nwhil`` fault paths: lazy imports, checks before heavy work, one-line errors, no silent overwrite.

Import checks run in a fresh interpreter (``sys.modules`` of this process holds whatever other
tests loaded) and assert on the modules loaded, never on seconds.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _datasets import ramps_dataset

import nwhil as cli
import nwmodel.experiments.compare as cmp
from nwhil import build_parser, main
from nwmodel.data.datasets import Dataset
from nwmodel.errors import ExperimentError

HEAVY = ("torch", "dask", "distributed", "aeon", "sklearn", "matplotlib", "h5py", "scipy")
TINY_GRIDS = {"abstract": {"n_units": [20], "gamma": [0.5], "dt": [0.1]}}


def _python(code: str, tmp_path: Path, env: dict[str, str] | None = None) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object last, which is returned."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "MPLBACKEND": "Agg", **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


#: Runs main(argv) for each argv of ARGVS, records exit status, stderr and the heavy modules loaded.
_RUNNER = """
import contextlib, io, json, sys
from nwhil import main
results = []
for argv in ARGVS:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
    heavy = sorted(m for m in HEAVY if m in sys.modules)
    results.append({"argv": argv, "rc": rc, "err": err.getvalue(), "heavy": heavy})
print(json.dumps(results))
"""


def _run_cli(argvs: list[list[str]], tmp_path: Path, env: dict[str, str] | None = None) -> list[dict]:
    code = f"ARGVS = {argvs!r}\nHEAVY = {HEAVY!r}\n" + _RUNNER
    return _python(code, tmp_path, env)


def _tiny_dataset(name: str, seed: int = 0) -> Dataset:
    return ramps_dataset(name, seed, n=8, length=10)


# --------------------------------------------------------------------------- latency: lazy imports


def test_version_and_every_help_load_no_heavy_module(tmp_path: Path) -> None:
    argvs = [
        ["--version"],
        ["--help"],
        *([name, "--help"] for name, _, _ in cli.GROUPS),
        ["device", "generate", "--help"],
        ["device", "info", "--help"],
        ["emulator", "serve", "--help"],
    ]
    results = _run_cli(argvs, tmp_path)
    for r in results:
        assert r["rc"] == 0, r
        assert r["heavy"] == [], r


def test_import_of_the_packages_is_lazy(tmp_path: Path) -> None:
    out = _python(
        f"""
        import json, sys
        import nwmodel, nwphys, hardware
        loaded = sorted(m for m in {HEAVY!r} if m in sys.modules)
        nwphys.generate  # first use loads the defining submodule
        print(json.dumps({{"loaded": loaded, "network": "nwphys.geometry.network" in sys.modules,
                          "names": [n for p in (nwmodel, nwphys, hardware) for n in p.__all__
                                    if not hasattr(p, n)]}}))
    """,
        tmp_path,
    )
    assert out == {"loaded": [], "network": True, "names": []}


def test_cli_name_tables_agree_with_the_library() -> None:
    from nwhil import compare, device, run, simulate
    from nwmodel.selection.search import MODELS
    from nwphys.circuit.nodal import NODAL_BACKENDS
    from nwphys.dynamics.integrate import METHODS
    from nwphys.geometry.electrodes import ROLE_PATTERNS

    assert sorted(device.PLOT_ROLES) == sorted([*ROLE_PATTERNS, "none"])
    assert compare.BACKENDS == cmp.BACKENDS
    assert run.MODELS == MODELS
    assert simulate.METHODS == METHODS
    assert simulate.NODAL_BACKENDS == NODAL_BACKENDS


def test_bad_inputs_are_refused_before_any_heavy_import(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "run_esn_NARMA10_quick_tuned.json").write_text("{}\n")
    results = _run_cli(
        [
            ["compare", "--backends", "bogus", "-o", "out"],
            ["compare", "--datasets", "NoSuchSet", "--backends", "abstract", "-o", "out"],
            ["compare", "--backends", "abstract", "--scheduler", "udp://x", "-o", "out"],
            ["compare", "--backends", "abstract", "--datasets", "NARMA10", "-o", "afile"],
            ["run", "--model", "esn", "--dataset", "Nope", "--data-dir", str(tmp_path), "-o", "out"],
            ["run", "--model", "esn", "--dataset", "NARMA10", "-o", "res"],
            ["run", "--model", "esn", "--dataset", "NARMA10", "--device", "gpu", "-o", "out"],
            ["plot", "missing.h5", "-o", "x.png", "--dpi", "0"],
            ["simulate", "dev.h5", "--drive", "in=1", "--duration", "-1", "--dt", "1e-3", "-o", "r.h5"],
        ],
        tmp_path,
    )
    expect = [
        (2, "argument --backends: unknown name(s) bogus; allowed: abstract,oracle,simulated,emulated,esn"),
        (2, "nwhil: error: unknown dataset 'NoSuchSet'"),
        (2, "--scheduler must be 'serial' or an address"),
        (1, "output directory 'afile' exists and is not a directory"),
        (2, "nwhil: error: unknown dataset 'Nope'"),
        (1, "run_esn_NARMA10_quick_tuned.json' exists; pass --force to overwrite it"),
        (2, "argument --device: expected a torch device cpu, cuda, cuda:N or mps, got 'gpu'"),
        (2, "argument --dpi: expected an integer in [10, 1200], got 0"),
        (2, "argument --duration: expected a finite number > 0, got -1"),
    ]
    for r, (rc, text) in zip(results, expect, strict=True):
        assert r["rc"] == rc and text in r["err"], r
        assert r["err"].count("\n") == 1 and "Traceback" not in r["err"], r
        assert r["heavy"] == [], r
    assert (tmp_path / "res" / "run_esn_NARMA10_quick_tuned.json").read_text() == "{}\n"


def test_truncated_cell_file_is_refused_before_dask_starts(tmp_path: Path) -> None:
    cells = tmp_path / "out" / "cells"
    cells.mkdir(parents=True)
    (cells / "NARMA10__abstract.json").write_text('{"dataset": "NARMA10", "backe')
    # default scheduler: a LocalCluster, which must not start (nor Dask load) for a refusal
    (r,) = _run_cli(
        [["compare", "--datasets", "NARMA10", "--backends", "abstract", "--no-esn", "--quiet", "-o", "out"]],
        tmp_path,
    )
    assert r["rc"] == 1 and r["err"].count("\n") == 1, r
    assert "NARMA10__abstract.json' is corrupt or truncated" in r["err"] and "--force" in r["err"]
    assert "dask" not in r["heavy"] and "distributed" not in r["heavy"]


# --------------------------------------------------------------------------- compare: the cell store


def test_corrupt_cell_is_refused_and_recomputed_with_force(tmp_path: Path) -> None:
    ds = [_tiny_dataset("Ramps")]
    kw = {"grids": TINY_GRIDS, "n_seeds": 1, "include_esn": False, "progress": False}
    first = cmp.run_comparison(ds, ["abstract"], tmp_path, **kw)
    path = tmp_path / "cells" / "Ramps__abstract.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # truncated
    with pytest.raises(ExperimentError, match=r"Ramps__abstract.json' is corrupt or truncated .*--force"):
        cmp.run_comparison(ds, ["abstract"], tmp_path, **kw)
    path.write_text("[1, 2]")  # valid JSON, not a cell
    with pytest.raises(ExperimentError, match=r"is corrupt or truncated \(not a cell record\)"):
        cmp.run_comparison(ds, ["abstract"], tmp_path, **kw)
    again = cmp.run_comparison(ds, ["abstract"], tmp_path, force=True, **kw)
    assert again.executed == ["Ramps__abstract"]
    assert again.cells[0].test_scores == first.cells[0].test_scores
    assert json.loads(path.read_text())["fingerprint"] == first.cells[0].fingerprint


def test_subset_run_keeps_every_stored_cell_in_the_reports(tmp_path: Path) -> None:
    kw = {"grids": TINY_GRIDS, "n_seeds": 1, "include_esn": False, "progress": False}
    cmp.run_comparison([_tiny_dataset("RampsA", 0)], ["abstract"], tmp_path, **kw)
    res = cmp.run_comparison([_tiny_dataset("RampsB", 1)], ["abstract"], tmp_path, **kw)
    assert res.executed == ["RampsB__abstract"]
    assert [c.dataset for c in res.cells] == ["RampsB", "RampsA"]
    rows = list(csv.DictReader(open(res.paths["csv"])))
    assert sorted(r["dataset"] for r in rows) == ["RampsA", "RampsB"]
    md = Path(res.paths["markdown"]).read_text()
    assert "| RampsA |" in md and "| RampsB |" in md
    import h5py

    with h5py.File(res.paths["hdf5"]) as f:
        assert sorted(f) == ["RampsA__abstract", "RampsB__abstract"]


def test_changed_configuration_is_refused_before_any_cell_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kw = {"grids": TINY_GRIDS, "include_esn": False, "progress": False, "write": False}
    b = _tiny_dataset("RampsB", 1)
    cmp.run_comparison([b], ["abstract"], tmp_path, n_seeds=1, **kw)
    calls: list[str] = []
    monkeypatch.setattr(cmp, "run_cell", lambda d, *a, **k: calls.append(d.name))
    with pytest.raises(ExperimentError, match="RampsB__abstract of a different configuration"):
        cmp.run_comparison([_tiny_dataset("RampsA"), b], ["abstract"], tmp_path, n_seeds=2, **kw)
    assert calls == []  # RampsA was not run first only to be refused at RampsB


# --------------------------------------------------------------------------- writers and --force


@pytest.mark.parametrize(
    "argv",
    [["device", "generate"], ["device", "plot"], ["simulate"], ["plot"], ["run"], ["compare"], ["demo"]],
)
def test_every_writer_takes_force(argv: list[str]) -> None:
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[argv[0]]
    if len(argv) == 2:
        sub = sub._subparsers._group_actions[0].choices[argv[1]]
    assert "--force" in sub._option_string_actions


@pytest.mark.parametrize("argv", [["plot", "missing-run.h5"], ["device", "plot", "missing-dev.h5"]])
def test_plots_refuse_an_existing_image(tmp_path: Path, argv: list[str], capsys) -> None:
    png = tmp_path / "x.png"
    png.write_bytes(b"old")
    assert main([*argv, "-o", str(png)]) == 1
    err = capsys.readouterr().err
    assert err == f"nwhil: error: output {str(png)!r} exists; pass --force to overwrite it\n"
    assert png.read_bytes() == b"old"


#: One recipe whose seeds 3 and 12 give the same junction count (221) on different geometries.
_RECIPE = {"n_wires": 100, "size_um": (20.0, 20.0), "length_mean_um": 6.0, "length_std_um": 1.0}


@pytest.fixture
def run_of_device(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``(device, other device with the same junction count, run file of device)``."""
    import nwphys

    a, b = (nwphys.generate(**_RECIPE, seed=s) for s in (3, 12))
    assert a.n_junctions == b.n_junctions  # the counts cannot tell the two devices apart
    assert a.geometry.endpoints_um.shape == b.geometry.endpoints_um.shape
    assert not (a.geometry.endpoints_um == b.geometry.endpoints_um).all()
    dev, other, run = tmp_path / "dev.h5", tmp_path / "other.h5", tmp_path / "run.h5"
    nwphys.save_network(a, dev)
    nwphys.save_network(b, other)
    argv = ["simulate", str(dev), "--drive", "in=dc:1;out=gnd", "--duration", "0.01", "--dt", "1e-3"]
    assert main([*argv, "-o", str(run), "--quiet"]) == 0
    return dev, other, run


def _circuit_digest(device: Path) -> str:
    import nwphys
    from nwphys._digest import sha256_of

    return sha256_of(nwphys.load_network(device).circuit())


def test_plot_refuses_a_regenerated_device_with_the_same_junction_count(
    run_of_device: tuple[Path, Path, Path], tmp_path: Path, capsys
) -> None:
    from nwphys.io.runfile import read_run

    dev, other, run = run_of_device
    params = read_run(run)["params"]
    recorded = params["circuit_sha256"]
    shutil.copyfile(other, dev)  # the device file the run names now holds another geometry
    png = tmp_path / "run.png"
    assert main(["plot", str(run), "-o", str(png)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"device file {params['device_path']!r} is not the device of run file {str(run)!r}" in err
    assert f"circuit sha256 {_circuit_digest(dev)} (device) != {recorded} (run)" in err
    assert not png.exists()


@pytest.mark.parametrize("seed", [12, 1])  # the same junction count (221), another one (193)
def test_plot_refuses_a_device_option_of_another_device(
    run_of_device: tuple[Path, Path, Path], tmp_path: Path, seed: int, capsys
) -> None:
    import nwphys
    from nwphys.io.runfile import read_run

    dev, _, run = run_of_device
    wrong = tmp_path / f"wrong{seed}.h5"
    nwphys.save_network(nwphys.generate(**_RECIPE, seed=seed), wrong)
    png = tmp_path / "run.png"
    # refused whether the junction counts agree or not: no panel is painted or left blank
    assert main(["plot", str(run), "-o", str(png), "--device", str(wrong)]) == 1
    err = capsys.readouterr().err
    recorded = read_run(run)["params"]["circuit_sha256"]
    assert err.count("\n") == 1
    assert f"device file {str(wrong)!r} is not the device of run file {str(run)!r}" in err
    assert f"circuit sha256 {_circuit_digest(wrong)} (device) != {recorded} (run)" in err
    assert not png.exists()
    # the run's own device, or no network panel, plot
    assert main(["plot", str(run), "-o", str(png), "--device", str(dev)]) == 0
    assert main(["plot", str(run), "-o", str(png), "--force", "--no-network"]) == 0


def test_plot_without_the_recorded_device_leaves_the_panel_out_and_says_so(
    run_of_device: tuple[Path, Path, Path], tmp_path: Path, capsys
) -> None:
    dev, _, run = run_of_device
    dev.unlink()
    png = tmp_path / "run.png"
    assert main(["plot", str(run), "-o", str(png)]) == 0
    out, err = capsys.readouterr()
    assert out == f"wrote {png}\n"
    assert err == (
        f"nwhil: warning: no network panel: the device file of {run}, {str(dev.resolve())!r}, is not "
        "found (pass --device)\n"
    )


@pytest.mark.parametrize("command", [["plot"], ["device", "plot"]])
def test_suffixless_output_is_checked_as_the_png_it_writes(
    run_of_device: tuple[Path, Path, Path], tmp_path: Path, command: list[str], capsys
) -> None:
    dev, _, run = run_of_device
    argv = [*command, str(run if command == ["plot"] else dev), "-o", str(tmp_path / "q")]
    png = tmp_path / "q.png"
    png.write_bytes(b"old")
    assert main(argv) == 1  # -o q writes q.png: that file is the one checked for --force
    err = capsys.readouterr().err
    assert err == f"nwhil: error: output {str(png)!r} exists; pass --force to overwrite it\n"
    assert png.read_bytes() == b"old"
    assert main([*argv, "--force"]) == 0
    assert capsys.readouterr().out == f"wrote {png}\n"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "q").exists()


def test_run_refuses_to_overwrite_a_result_without_force(tmp_path: Path, capsys) -> None:
    result = tmp_path / "run_esn_NARMA10_quick_tuned.json"
    result.write_text("previous\n")
    argv = [
        "run",
        "--model",
        "esn",
        "--dataset",
        "NARMA10",
        "--seeds",
        "1",
        "--no-progress",
        "-o",
        str(tmp_path),
    ]
    assert main(argv) == 1
    assert f"output {str(result)!r} exists; pass --force" in capsys.readouterr().err
    assert result.read_text() == "previous\n"
    assert main([*argv, "--force"]) == 0
    assert json.loads(result.read_text())["dataset"] == "NARMA10"


def test_demo_accepts_force_and_its_advice(tmp_path: Path, capsys) -> None:
    import nwphys
    from nwmodel.physical.reservoir import SimulatedDeviceSpec

    assert build_parser().parse_args(["demo", "--force"]).force is True
    out = tmp_path / "demo"
    out.mkdir()
    nwphys.save_network(SimulatedDeviceSpec(device_seed=2).network(), out / "device.h5")
    argv = ["demo", "-o", str(out), "--seed", "1", "--scheduler", "serial", "--data-dir", str(tmp_path)]
    assert main(argv) == 1  # another device: refused, not silently reused
    err = capsys.readouterr().err
    assert "device.h5' holds another device (seed 2, not --seed 1); pass --force" in err
    # a stored cell of another configuration: the advice names an option demo accepts
    (out / "device.h5").unlink()
    cells = out / "comparison" / "cells"
    cells.mkdir(parents=True)
    (cells / "SyntheticControl-gen__abstract.json").write_text(
        json.dumps(
            {
                f: 0
                for f in (
                    "dataset",
                    "backend",
                    "task",
                    "metric",
                    "test_mean",
                    "test_std",
                    "test_scores",
                    "val_score",
                    "best_params",
                    "configs",
                    "val_scores",
                    "n_seeds",
                    "wall_time_s",
                )
            }
            | {"fingerprint": "other"}
        )
    )
    assert main(argv) == 1
    err = capsys.readouterr().err.splitlines()[-1]
    assert "of a different configuration; use another output directory or --force" in err
    assert (out / "device.h5").is_file()


# --------------------------------------------------------------------------- the error handler


def test_unexpected_exception_is_one_line_and_debug_shows_it(monkeypatch, capsys) -> None:
    import nwhil.bench as bench

    def boom(args):
        raise ValueError("boom\nsecond line")

    monkeypatch.setattr(bench, "_run", boom)
    assert main(["bench"]) == 1
    err = capsys.readouterr().err
    assert err == "nwhil: error: unexpected ValueError: boom (run again with --debug for the traceback)\n"
    with pytest.raises(ValueError, match="boom"):
        main(["--debug", "bench"])


def test_interrupt_anywhere_is_one_line_exit_130(monkeypatch, capsys) -> None:
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)  # Ctrl-C while the parser loads
    assert main(["--help"]) == 130
    assert capsys.readouterr().err == "nwhil: interrupted\n"


def test_closed_stdout_pipe_is_quiet(tmp_path: Path) -> None:
    import nwphys

    dev = tmp_path / "dev.h5"
    nwphys.save_network(nwphys.generate(n_wires=60, size_um=(20.0, 20.0), seed=1), dev)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nwhil", "device", "info", str(dev), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the command writes (nwhil ... | head -0)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert err == b""


def test_data_dir_defaults_to_shared_data_beside_the_checkout(tmp_path: Path, monkeypatch) -> None:
    from nwhil import _common

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text("")
    monkeypatch.setattr(_common, "_CHECKOUT", checkout)
    monkeypatch.delenv("NWHIL_DATA", raising=False)
    assert _common.resolve_data_dir(None) is None  # no ../shared/data: the library's default
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert _common.resolve_data_dir(None) == str(tmp_path / "shared" / "data")
    monkeypatch.setenv("NWHIL_DATA", "/elsewhere")
    assert _common.resolve_data_dir(None) == "/elsewhere"
    assert _common.resolve_data_dir("given") == "given"
