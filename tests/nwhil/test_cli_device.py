"""``nwhil device generate | info | plot`` through :func:`nwhil.main`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nwphys
from nwhil import main


@pytest.fixture(autouse=True)
def _agg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")


def _generate(tmp_path: Path, *extra: str, name: str = "dev.h5") -> Path:
    out = tmp_path / name
    rc = main(["device", "generate", *extra, "--seed", "7", "-o", str(out)])
    assert rc == 0
    return out


def test_generate_matches_library_and_info_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _generate(tmp_path, "--preset", "sydney", "--electrodes", "mea4x4")
    assert "wrote" in capsys.readouterr().out
    net = nwphys.load_network(out)
    assert net == nwphys.generate("sydney", electrodes="mea4x4", seed=7)
    assert main(["device", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_wires"] == net.n_wires == 1000
    assert info["n_junctions"] == net.n_junctions
    assert info["n_electrodes"] == 16 and info["connected"] is True
    assert info["percolation_ratio"] == pytest.approx(net.percolation_ratio, rel=1e-12)
    assert info["junctions_per_wire"] == pytest.approx(2 * net.n_junctions / 1000, rel=1e-12)
    assert info["n_components"] == int(net.wire_component.max()) + 1


def test_generate_explicit_parameters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _generate(
        tmp_path,
        "--wires",
        "400",
        "--size",
        "40x30",
        "--length-mean",
        "6",
        "--length-std",
        "1.5",
        "--representation",
        "multinodal",
    )
    net = nwphys.load_network(out)
    assert net.n_wires == 400 and net.geometry.size_um == (40.0, 30.0)
    assert net.representation == "multinodal"
    assert net.metadata["creation_params"]["length_std_um"] == 1.5
    assert main(["device", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "wires:" in text and "percolation" in text and "junctions per wire" in text


def test_density_option(tmp_path: Path) -> None:
    out = _generate(tmp_path, "--density", "0.2", "--size", "50x50", "--length-mean", "5")
    assert nwphys.load_network(out).n_wires == 500


def test_plot_writes_png(tmp_path: Path) -> None:
    dev = _generate(tmp_path, "--preset", "sydney")
    png = tmp_path / "dev.png"
    assert main(["device", "plot", str(dev), "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_draws_the_roles_of_the_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    drawn = []

    def spy(net, **kwargs):
        drawn.append(kwargs.get("roles"))
        return plot_network(net, **kwargs)

    plot_network = nwphys.plot_network
    monkeypatch.setattr(nwphys, "plot_network", spy)
    dev = _generate(tmp_path, "--preset", "sydney", "--electrodes", "mea4x4")
    layout = nwphys.load_network(dev).electrodes
    for option, roles in (
        ([], nwphys.assign_roles(layout, "auto")),  # 4 x 4: the chessboard
        (["--roles", "rows"], nwphys.assign_roles(layout, "rows")),
        (["--roles", "none"], None),
    ):
        assert main(["device", "plot", str(dev), "-o", str(tmp_path / "d.png"), "--force", *option]) == 0
        assert drawn.pop() == roles
    assert nwphys.assign_roles(layout, "auto") == nwphys.assign_roles(layout, "chessboard")
    # a pattern the layout cannot take, asked for: one line, exit 1, nothing written
    two = _generate(tmp_path, "--wires", "400", "--size", "40x30", name="two.h5")
    capsys.readouterr()
    png = tmp_path / "two.png"
    assert main(["device", "plot", str(two), "-o", str(png), "--roles", "rows"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nwhil: error: role pattern 'rows' needs >= 3 rows (inputs, outputs, ground)")
    assert err.count("\n") == 1 and not png.exists()


def test_plot_output_suffix_and_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nwhil import build_parser

    dev = _generate(tmp_path, "--wires", "400", "--size", "40x30")
    capsys.readouterr()
    # a missing folder is created, as the help of -o says; no suffix writes PATH.png
    out = tmp_path / "new" / "folder" / "dev"
    assert main(["device", "plot", str(dev), "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}.png\n"
    assert Path(f"{out}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot = build_parser()._subparsers._group_actions[0].choices["device"]
    plot = plot._subparsers._group_actions[0].choices["plot"]
    assert "missing folders are created" in plot._option_string_actions["-o"].help
    # a suffix matplotlib cannot write is a usage error (exit 2), before anything is written
    assert main(["device", "plot", str(dev), "-o", str(tmp_path / "other" / "dev.bogus")]) == 2
    err = capsys.readouterr().err
    assert "cannot write image" in err and "format 'bogus' is not one of" in err and err.count("\n") == 1
    assert not (tmp_path / "other").exists()


def test_existing_output_needs_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _generate(tmp_path, "--preset", "sydney")
    before = out.read_bytes()
    rc = main(["device", "generate", "--preset", "sydney", "--seed", "8", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "exists; pass --force" in err and err.count("\n") == 1
    assert out.read_bytes() == before
    assert main(["device", "generate", "--preset", "sydney", "--seed", "8", "-o", str(out), "--force"]) == 0
    assert nwphys.load_network(out).metadata["seed"] == 8


def test_missing_device_file_is_one_line_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for sub in (["info"], ["plot"]):
        argv = ["device", *sub, str(tmp_path / "missing.h5")]
        if sub == ["plot"]:
            argv += ["-o", str(tmp_path / "x.png")]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("nwhil: error: device file") and "not found" in err
        assert err.count("\n") == 1


def test_bad_parameter_is_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:  # a count below 1 is a usage error (exit 2)
        main(["device", "generate", "--wires", "0", "--seed", "1", "-o", str(tmp_path / "x.h5")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert "argument --wires: expected an integer >= 1, got 0" in err
    rc = main(["device", "generate", "--density", "-0.1", "--seed", "1", "-o", str(tmp_path / "x.h5")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("nwhil: error: --density must be")
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "device",
                "generate",
                "--wires",
                "10",
                "--electrodes",
                "grid",
                "--seed",
                "1",
                "-o",
                str(tmp_path / "x.h5"),
            ]
        )
    assert exc.value.code == 2
    assert "argument --electrodes: expected 'two-terminal' or 'meaRxC'" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


def test_disconnected_device_is_saved_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _generate(tmp_path, "--wires", "20", "--size", "100x100")
    assert "not all connected" in capsys.readouterr().err
    assert main(["device", "info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["connected"] is False


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["device", "generate", "--wires", "5", "--density", "0.1", "--seed", "1", "-o", "x.h5"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["device", "generate", "--size", "ax3", "--seed", "1", "-o", "x.h5"])
    assert exc.value.code == 2
