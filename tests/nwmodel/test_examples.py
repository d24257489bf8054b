"""Every script in examples/ runs as a subprocess and prints (and writes) what it promises."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nwphys

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.py"))


def _run(script: str, *args: str, timeout: float = 120) -> str:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=EXAMPLES_DIR.parent,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _line(out: str, pattern: str) -> re.Match[str]:
    m = re.search(pattern, out, flags=re.MULTILINE)
    assert m is not None, f"no line matching {pattern!r} in:\n{out}"
    return m


def test_every_example_has_an_output_test() -> None:
    # the scripts the tests of this module run (the literal first argument of each _run call):
    # a new example without a test that runs it, or a test of a removed one, fails here
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    run = [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_run"
        and node.args and isinstance(node.args[0], ast.Constant)
    ]
    assert EXAMPLES, f"no example in {EXAMPLES_DIR}"
    assert sorted(set(run)) == [p.name for p in EXAMPLES]


def test_generate_device_writes_the_default_device_and_prints_it(tmp_path: Path) -> None:
    out = _run("generate_device.py", str(tmp_path))
    path = tmp_path / "device.h5"
    assert _line(out, r"^saved (.+)$").group(1) == str(path)
    net = nwphys.load_network(path)  # the file it wrote holds the device it describes
    assert (net.n_wires, net.n_electrodes) == (400, 16)
    counts = _line(out, r"^wires (\d+), junctions (\d+), electrodes (\d+)$").groups()
    assert tuple(map(int, counts)) == (net.n_wires, net.n_junctions, net.n_electrodes)
    assert net.n_junctions == 1699
    roles = _line(out, r"^inputs (\[.*\]), outputs (\[.*\]), ground (\[.*\]), probed nodes (\d+)$")
    inputs, outputs, ground = (ast.literal_eval(roles.group(k)) for k in (1, 2, 3))
    assert len(inputs) == len(outputs) == 6 and len(ground) == 4
    assert sorted(inputs + outputs + ground) == sorted(net.electrodes.names)
    model = _line(out, r"^junction model (\w+): (\{.*\})$")
    assert model.group(1) == net.junction_model == "rate_balance"
    assert ast.literal_eval(model.group(2)) == net.junction_params
    np.testing.assert_allclose(net.junction_params["G_max_S"], 1 / 12.9e3, rtol=1e-12)
    v = ast.literal_eval(_line(out, r"^output voltages after 1 s at 1 V: (\[.*\]) V$").group(1))
    # the printed values are rounded to 4 decimals
    np.testing.assert_allclose(v, [0.7479, 0.6504, 0.8879, 0.9234, 0.7837, 0.8091], atol=1.5e-4)


@pytest.mark.slow
def test_physical_reservoir_prints_both_accuracies() -> None:
    out = _run("physical_reservoir.py", timeout=400)
    assert _line(out, r"^mapping: (\{.*\})$").group(1) == (
        "{'v_bias_V': 0.35, 'v_scale_V': 0.8, 'input_scaling': 1.0, 'bias_scaling': 0.1, "
        "'slope': 1.0, 'dt_s': 0.1}"
    )
    assert re.search(r"^  spectral_radius: no physical knob", out, flags=re.MULTILINE)
    assert re.search(r"^  gamma: no physical knob", out, flags=re.MULTILINE)
    lo, hi = map(float, _line(out, r"^calibrated electrode window: ([\d.]+)\.\.([\d.]+) V$").groups())
    assert lo == pytest.approx(0.75, abs=0.02) and hi == pytest.approx(2.46, abs=0.02)
    # 60 test series: one series is 1/60 of the accuracy; allow two either way
    acc_abs = float(_line(out, r"^abstract NW-ESN : accuracy ([\d.]+) ").group(1))
    acc_phys = float(_line(out, r"^simulated device: accuracy ([\d.]+) ").group(1))
    # the tuned readout of both (pooled features, leave-one-out ridge)
    assert acc_abs == pytest.approx(60 / 60, abs=2 / 60 + 1e-3)
    assert acc_phys == pytest.approx(60 / 60, abs=2 / 60 + 1e-3)
    assert float(_line(out, r"^chance {10}: ([\d.]+)$").group(1)) == pytest.approx(1 / 6, abs=1e-3)
