"""``nwhil lab rehearse``: a bench run rehearsed through the real drivers on a virtual bench."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _benches import AG_DEVICE_ARGV, THREE_2450_MAP

from nwhil import main
from nwmodel.errors import ExperimentError
from nwmodel.experiments.rehearsal import FEATURE_BOUND, rehearse

#: Three 2450s: the input, an output voltmeter and a ground, on three pads of a 2 x 2 device.
MAP = THREE_2450_MAP
SHORT = {"n_series": 3, "n_samples": 8, "relax_s": 0.5}


@pytest.fixture(scope="module")
def bench_files(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("lab")
    dev = d / "dev.h5"
    assert main([*AG_DEVICE_ARGV, "-o", str(dev)]) == 0
    cmap = d / "map.json"
    cmap.write_text(json.dumps(MAP))
    return dev, cmap


def test_with_fast_instruments_the_bench_reads_what_the_simulated_device_reads(bench_files) -> None:
    dev, cmap = bench_files
    r = rehearse(dev, cmap, latency_s=0.0, nplc=0.001, **SHORT)
    # 20 us apertures against 0.1 s samples: the readings agree within the bound of two simulations
    # (observed 8.3e-5 of their spread; it grows with the aperture: 8.3e-4 at nplc 0.01)
    assert r.features_ok and r.feature_max_abs_diff <= FEATURE_BOUND
    assert r.gain_bench == pytest.approx(r.gain_simulated, rel=2e-3)
    assert r.safe_state_ok and 0 < r.peak_fraction_of_compliance < 1
    assert r.floating_electrodes == ("E11",)
    # the series alone hold 3 x (0.5 s relaxation + 8 x 0.1 s) on the bench clock
    assert r.predicted_bench_s > 3 * (0.5 + 0.8)


def test_slow_readings_move_the_features_and_the_report_says_so(bench_files) -> None:
    dev, cmap = bench_files
    r = rehearse(dev, cmap, latency_s=1e-3, nplc=1.0, **SHORT)
    # three instruments read one after another, 21 ms each, over the last 63 ms of 0.1 s holds
    # (observed 8.5e-2 of the spread)
    assert not r.features_ok and r.feature_max_abs_diff > 10 * FEATURE_BOUND
    assert r.safe_state_ok


def test_a_map_of_another_device_is_refused_naming_the_electrode(bench_files, tmp_path, capsys) -> None:
    dev, _ = bench_files
    bad = {**MAP, "electrodes": [*MAP["electrodes"][:2], {**MAP["electrodes"][2], "name": "G1"}]}
    with pytest.raises(ExperimentError, match=r"'G1' that the device does not have; its electrodes: E00"):
        rehearse(dev, bad, **SHORT)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad))
    assert main(["lab", "rehearse", str(dev), "--channel-map", str(p)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[-1].startswith("nwhil: error: channel map names electrode(s) 'G1'")


def test_cli_json_report(bench_files, capsys) -> None:
    dev, cmap = bench_files
    rc = main(["lab", "rehearse", str(dev), "--channel-map", str(cmap), "--json", "--series", "2",
               "--samples", "4", "--relax", "0.2", "--nplc", "0.001", "--latency", "0"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["ok"] is True
    for key in ("feature_max_abs_diff", "feature_bound", "predicted_bench_s", "peak_current_A"):
        assert key in out
    assert out["feature_bound"] == FEATURE_BOUND and out["safe_state_ok"] is True


def test_cli_refuses_bad_options_as_usage_errors(bench_files, capsys) -> None:
    dev, cmap = bench_files
    with pytest.raises(SystemExit) as e:
        main(["lab", "rehearse", str(dev), "--channel-map", str(cmap), "--series", "1"])
    assert e.value.code == 2 and "expected an integer >= 2, got 1" in capsys.readouterr().err


MATRIX_MAP = {
    "instruments": {"smu": {"driver": "keithley2600"}, "vm": {"driver": "keithley2450"},
                    "mx": {"driver": "keithley707b"}},
    "electrodes": [
        {"name": "E00", "role": "input", "smu": "smu", "channel": "a", "route": ["1A01"], "max_abs_V": 10.0,
         "compliance_A": 1e-3},
        {"name": "E01", "role": "ground", "smu": "smu", "channel": "b", "route": ["1B02"], "max_abs_V": 10.0,
         "compliance_A": 1e-3},
        {"name": "E10", "role": "output", "smu": "vm", "channel": None, "route": ["1C03"], "max_abs_V": 10.0},
    ],
}


def _with(electrode: int, **change) -> dict:
    els = [dict(e) for e in MATRIX_MAP["electrodes"]]
    els[electrode].update(change)
    for k in [k for k, v in change.items() if v is None]:
        del els[electrode][k]
    return {**MATRIX_MAP, "electrodes": els}


@pytest.mark.parametrize(("bad", "message"), [
    (_with(2, route=None), r"^nwhil: error: electrode 'E10' has no route through the switch matrix"),
    (_with(1, route=["1A01"]), r"^nwhil: error: electrode 'E01': crosspoint '1A01' is also on the route of "
                               r"electrode 'E00'"),
    (_with(0, max_abs_V=250.0), r"^nwhil: error: electrode 'E00': max_abs_V must be in \(0, 202\.0\] V "
                                r"\(the keithley2600's range\), got 250\.0"),
])
def test_a_map_that_does_not_fit_is_refused_in_one_line_naming_the_electrode(
    bench_files, tmp_path, capsys, bad, message
) -> None:
    dev, _ = bench_files
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad))
    assert main(["lab", "rehearse", str(dev), "--channel-map", str(p), "--json"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.match(message, err[0]), err


def test_a_bench_with_a_matrix_and_a_2600b_rehearses_safely(bench_files, tmp_path) -> None:
    dev, _ = bench_files
    r = rehearse(dev, MATRIX_MAP, latency_s=0.0, nplc=0.001, **SHORT)
    # the 2600B reads both channels in one chunk, then the 2450: the readings agree as with 2450s
    assert r.features_ok and r.safe_state_ok and r.floating_electrodes == ("E11",)


def test_a_bench_with_a_ground_on_the_common_ground_rehearses(bench_files) -> None:
    dev, _ = bench_files
    cmap = {"instruments": {"s1": MAP["instruments"]["s1"], "s2": MAP["instruments"]["s2"]},
            "electrodes": [*MAP["electrodes"][:2], {"name": "E01", "role": "ground"}]}
    r = rehearse(dev, cmap, latency_s=0.0, nplc=0.001, **SHORT)
    # the same physics as with a ground SMU; only its current is not read (nor compared)
    assert r.features_ok and r.safe_state_ok and r.floating_electrodes == ("E11",)


def test_the_rehearsal_reference_gives_a_common_ground_no_current_limit(tmp_path) -> None:
    """The common ground is wiring, not a source: the simulated device a rehearsal compares with
    carries more than the 1 mA default compliance through it without a compliance stop (default
    junctions, 1 V at the input)."""
    import nwphys
    from hardware.backends.lab import load_channel_map
    from nwmodel.experiments.rehearsal import simulated_reference

    dev = tmp_path / "dev.h5"
    assert main(["device", "generate", "--wires", "300", "--size", "50x50", "--electrodes", "mea2x2",
                 "--seed", "3", "-o", str(dev)]) == 0
    cmap = {"instruments": {"s1": MAP["instruments"]["s1"], "s2": MAP["instruments"]["s2"]},
            "electrodes": [{**MAP["electrodes"][0], "max_abs_V": 10.0, "compliance_A": 0.5},
                           {**MAP["electrodes"][1], "max_abs_V": 10.0}, {"name": "E01", "role": "ground"}]}
    sim = simulated_reference(nwphys.load_network(str(dev)), load_channel_map(cmap), relax_s=0.5)
    m = sim.apply([[1.0]], 0.1)  # the default policy raises on any compliance hit
    assert sim.ground_names == ("E01",) and abs(m.ground_current_A[0, 0]) > 1e-3
    assert not m.ground_compliance.any()
    sim.close()


def test_characterise_on_a_virtual_bench_reads_what_the_simulated_device_reads(
    bench_files, tmp_path, capsys
) -> None:
    import numpy as np

    from hardware import SimulatedDevice
    from hardware.h5io import read_measurement
    from nwmodel.twin import Characterisation, characterise

    dev, cmap = bench_files
    out = tmp_path / "meas.h5"
    shape = ["--amplitudes", "2,4", "--dt", "0.01", "--pulse", "0.05", "--relax", "0.1", "--iv", "0.2",
             "--noise", "0.1"]
    argv = ["lab", "characterise", "--channel-map", str(cmap), "--virtual", str(dev), *shape,
            "--latency", "0", "--nplc", "0.001", "-o", str(out)]
    assert main(argv) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    m, info = read_measurement(out)
    plan = Characterisation(amplitudes_V=(2.0, 4.0), dt_s=0.01, pulse_s=0.05, relax_s=0.1, iv_s=0.2,
                            noise_s=0.1, iv_amplitude_V=4.0, max_step_V=0.5)
    assert info["status"] == "complete" and m.n_steps == plan.levels().size
    assert info["metadata"]["characterisation"]["device_file"] == str(dev.resolve())
    # the same drive on the simulated device, read at the end of each hold (20 us apertures here)
    sim = SimulatedDevice(str(dev), inputs=["E00"], outputs=["E10"], ground=["E01"], max_abs_V=10.0,
                          compliance_A=1e-3)
    ref = characterise(sim, plan)
    np.testing.assert_allclose(m.input_V, ref.input_V, rtol=0, atol=0)
    scale = np.abs(ref.input_current_A).max()
    assert np.abs(m.input_current_A - ref.input_current_A).max() < 1e-3 * scale
    # never over an existing file; a level beyond the map's 10 V limit refused before anything is sent
    assert main(argv) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    high = ["lab", "characterise", "--channel-map", str(cmap), "--virtual", str(dev), "--amplitudes", "4,12",
            "--dt", "0.01", "-o", str(tmp_path / "high.h5")]
    assert main(high) == 1
    printed = capsys.readouterr().err
    err = [line for line in printed.splitlines() if line.startswith("nwhil: error:")]
    assert len(err) == 1 and "E00" in err[0] and not (tmp_path / "high.h5").exists()
    # three instruments at 1 ms latency and NPLC 1 against 10 ms holds: said before anything runs
    assert "warning: the readings of a step take about 63 ms, 630% of the 10 ms hold" in printed


_SIGTERM_BETWEEN_CALLS = """
import os, signal, sys, time
import numpy as np
import nwmodel.twin.characterisation as C

real = C.characterise

def between_two_calls(dev, plan, **kwargs):
    dev.apply(np.full((1, dev.n_inputs), 0.5), 0.01)  # the bench sources 0.5 V, output on
    os.kill(os.getpid(), signal.SIGTERM)  # outside any device call
    time.sleep(30)
    return real(dev, plan, **kwargs)

C.characterise = between_two_calls
from nwhil import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_between_two_device_calls_still_switches_the_bench_off(bench_files, tmp_path) -> None:
    """``nwhil lab characterise`` on a bench served by this process: SIGTERM that lands outside any
    device call (between two batches) ends the command with status 143, after the safe state."""
    import subprocess
    import sys

    import nwphys
    from hardware.virtual import VirtualBench

    dev, cmap = bench_files
    with VirtualBench(nwphys.load_network(str(dev)), json.loads(cmap.read_text()), latency_s=0.0,
                      nplc=0.001) as bench:
        served = tmp_path / "served.json"
        served.write_text(json.dumps(bench.channel_map))
        out = tmp_path / "m.h5"
        proc = subprocess.run(
            [sys.executable, "-c", _SIGTERM_BETWEEN_CALLS, "lab", "characterise", "--channel-map",
             str(served), "--amplitudes", "2,4", "--dt", "0.01", "--pulse", "0.05", "--relax", "0.05",
             "--iv", "0.1", "--noise", "0.05", "-o", str(out)],
            capture_output=True, text=True, timeout=120)
        assert proc.returncode == 143, proc.stderr
        bench.sync()
        assert all(not ch.output_on and ch.level_V == 0.0
                   for inst in bench.instruments.values() for ch in inst.channels())
