"""``nwhil device characterise``, ``nwhil device fit`` and ``nwhil device fit --rehearse`` through
:func:`nwhil.main`, on a two-terminal device of 40 wires (150 junctions) with the ``milano2025``
junctions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nwphys
from nwhil import main


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dev") / "dev.h5"
    assert main(["device", "generate", "--preset", "milano2025", "--wires", "40", "--size", "14x14",
                 "--seed", "1", "-o", str(out)]) == 0
    return out


def test_rehearse_prints_true_fitted_and_errors_and_exits_0(
    device: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["device", "fit", "--rehearse", str(device), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["within_target"] is True and r["noise_true"]["sigma_per_sqrt_s"] == 3.2e-4
    assert set(r["true"]) == set(r["fitted"]) == set(r["rel_error"])
    assert max(abs(e) for e in r["rel_error"].values()) < 0.05
    # pulses too weak to switch a junction: no optimum the fit can vouch for; exit 1
    assert main(["device", "fit", "--rehearse", str(device), "--amplitudes", "0.2,0.4"]) == 1
    captured = capsys.readouterr()
    err = [line for line in captured.err.splitlines() if line.startswith("nwhil: error:")]
    assert (len(err) == 1 and "does not identify" in err[0]) or "NOT identifiable" in captured.out


def test_characterise_then_fit_writes_a_preset_that_generate_accepts(
    device: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meas, fit = tmp_path / "meas.h5", tmp_path / "fit.json"
    assert main(["device", "characterise", str(device), "--read-noise-A", "5e-11", "--seed", "3",
                 "-o", str(meas)]) == 0
    assert f"wrote {meas}" in capsys.readouterr().out
    assert main(["device", "fit", str(meas), "-o", str(fit)]) == 0  # the device the file names
    out = capsys.readouterr().out
    assert "adequate" in out and f"wrote {fit}" in out
    model, params, _ = nwphys.read_junction_preset(fit)
    true = nwphys.junctions.JUNCTION_PRESETS["milano2025"][1]
    for k in ("kp0_per_s", "kd0_per_s", "eta_p_per_V", "eta_d_per_V"):
        assert params[k] == pytest.approx(true[k], rel=0.10), k
    gen = tmp_path / "twin.h5"
    assert main(["device", "generate", "--preset", str(fit), "--wires", "40", "--size", "14x14",
                 "--seed", "1", "-o", str(gen)]) == 0
    twin = nwphys.load_network(gen)
    assert twin.junction_model == model and twin.junction_params == params
    # the same measurement on another device: refused in one line
    other = tmp_path / "other.h5"
    assert main(["device", "generate", "--preset", "milano2025", "--wires", "40", "--size", "14x14",
                 "--seed", "2", "-o", str(other)]) == 0
    capsys.readouterr()
    assert main(["device", "fit", str(meas), "--device", str(other)]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("nwhil: error:")]
    assert len(err) == 1 and "taken on a device of another geometry" in err[0]


def test_usage_errors_exit_2(device: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["device", "fit", str(tmp_path / "missing.h5")]) == 1
    assert "measurement file" in capsys.readouterr().err
    # a measurement recorded without its device file needs --device
    from hardware import SimulatedDevice
    from nwmodel.twin import Characterisation, characterise

    plan = Characterisation(amplitudes_V=(7.0, 10.0), pulse_s=0.01, relax_s=0.01, noise_s=0.0,
                            iv_amplitude_V=0.0, dt_s=1e-3, max_step_V=5.0)
    dev = SimulatedDevice(str(device), inputs=["in"], outputs=[], ground=["out"], max_abs_V=12.0,
                          method="sdirk2-sn")
    characterise(dev, plan, path=tmp_path / "anon.h5")
    assert main(["device", "fit", str(tmp_path / "anon.h5")]) == 2
    assert "names no device file: give --device DEVICE.h5" in capsys.readouterr().err
    assert main(["device", "fit", str(tmp_path / "m.h5"), "--rehearse", str(device)]) == 2
    for bad in (["--fix", "kp0"], ["--amplitudes", "3"]):
        with pytest.raises(SystemExit) as exc:
            main(["device", "fit", "--rehearse", str(device), *bad])
        assert exc.value.code == 2
    assert main(["device", "fit", str(tmp_path / "missing.h5"), "--device", str(device)]) == 1
    assert "measurement file" in capsys.readouterr().err


# ---------------------------------------------------------------------------- fit-geometry
# the device: 0.204 wires/um^2; its junctions' own noise left out (0.5 s a replay instead of 0.04 s)
GRID = ["--densities", "0.12:0.41:7", "--replicas", "8", "--junction-noise", "none"]


def test_fit_geometry_rehearse_covers_the_true_density(
    device: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["device", "fit-geometry", "--rehearse", str(device), *GRID, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    lo, hi = r["fit"]["density_interval_per_um2"]
    assert r["true_density_per_um2"] == pytest.approx(40 / 14**2)
    assert r["covered"] is True and lo <= r["true_density_per_um2"] <= hi
    assert abs(r["rel_error_density"]) < 0.2 and r["fit"]["adequate"] is True
    assert r["fit"]["chip"]["electrodes"] == ["in", "out"]


def test_fit_geometry_of_a_measurement_writes_json_and_refuses_bad_calls(
    device: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meas, out = tmp_path / "meas.h5", tmp_path / "geo.json"
    assert main(["device", "characterise", str(device), "--junction-noise", "none", "-o", str(meas)]) == 0
    capsys.readouterr()
    assert main(["device", "fit-geometry", str(meas), "--like", str(device), *GRID, "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "density" in printed and "95 % interval" in printed and f"wrote {out}" in printed
    model, params, extra = nwphys.read_junction_preset(out)
    geometry, fit = extra["geometry"], extra["geometry_fit"]
    lo, hi = fit["density_interval_per_um2"]
    assert lo <= 40 / 14**2 <= hi and fit["adequate"] is True
    assert model == "rate_balance_ou" and params == nwphys.load_network(device).junction_params
    # the chip preset generates a device of the estimated ensemble, and gives the spec its geometry
    twin = tmp_path / "twin.h5"
    assert main(["device", "generate", "--preset", str(out), "--seed", "5", "-o", str(twin)]) == 0
    net = nwphys.load_network(twin)
    n = round(geometry["density_per_um2"] * 14 * 14)
    assert net.n_wires == n and net.geometry.size_um == (14.0, 14.0)
    assert net.electrodes.names == ("in", "out") and net.junction_params == params
    from nwmodel.physical import SimulatedDeviceSpec

    spec = SimulatedDeviceSpec.from_preset(str(out))
    assert (spec.n_wires, spec.size_um, spec.electrodes) == (n, (14.0, 14.0), "two-terminal")
    assert dict(spec.generate_kwargs)["length_mean_um"] == geometry["length_mean_um"] == 10.0
    # never over an existing file without --force; usage errors in one line, exit 2
    assert main(["device", "fit-geometry", str(meas), "--like", str(device), *GRID, "-o", str(out)]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["device", "fit-geometry", str(meas)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("nwhil: error:")]
    assert len(err) == 1 and "--like TEMPLATE.h5" in err[0]
    assert main(["device", "fit-geometry", str(meas), "--rehearse", str(device)]) == 2
    for bad in (["--densities", "0.4:0.1:7"], ["--replicas", "2"], ["--lengths", "10"]):
        with pytest.raises(SystemExit) as exc:
            main(["device", "fit-geometry", str(meas), "--like", str(device), *bad])
        assert exc.value.code == 2
