"""Work budgets: a job whose estimated size would exhaust memory is refused before it starts."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

import nwphys
from nwphys.errors import BudgetError


def test_junction_estimate_matches_the_count() -> None:
    """The stick-crossing estimate is an upper bound within 12 % of the junctions found (sticks are
    clipped at the area's edge, which the estimate neglects: 60 um is 6 wire lengths)."""
    for n, side in ((2000, 60.0), (5000, 100.0)):
        net = nwphys.generate(n_wires=n, size_um=(side, side), seed=3)
        est = nwphys.estimate_generation(n, (side, side), 10.0)["n_junctions"]
        found = net.metadata["n_junctions_total"]
        assert found <= 1.02 * est and est <= 1.12 * found


def test_huge_device_is_refused_at_once() -> None:
    t0 = time.perf_counter()
    with pytest.raises(BudgetError, match=r"100000000 wires .* junctions and .* GiB, above the budget"):
        nwphys.generate(n_wires=100_000_000, size_um=(100.0, 100.0), seed=1)
    assert time.perf_counter() - t0 < 1.0  # refused from the estimate, nothing was generated
    # an explicit budget refuses a small job too, and raising it lets it run
    with pytest.raises(BudgetError, match="memory_limit_bytes"):
        nwphys.generate(n_wires=3000, size_um=(100.0, 100.0), seed=1, memory_limit_bytes=1e6)
    net = nwphys.generate(n_wires=3000, size_um=(100.0, 100.0), seed=1, memory_limit_bytes=1e9)
    assert net.n_wires == 3000
    with pytest.raises(nwphys.ValidationError, match="memory_limit_bytes"):
        nwphys.generate(n_wires=30, seed=1, memory_limit_bytes=-1)


def test_generation_reports_progress_only_for_long_jobs() -> None:
    msgs: list[str] = []
    nwphys.generate(n_wires=500, size_um=(50.0, 50.0), seed=1, progress=msgs.append)
    assert msgs == []
    nwphys.generate(n_wires=40_000, size_um=(300.0, 300.0), seed=1, progress=msgs.append)
    assert [m.split()[0] for m in msgs] == ["depositing", "finding", "building"]
    assert np.isfinite(float(msgs[0].split("about ")[1].split()[0]))


def test_cli_refuses_a_huge_device_in_one_line(tmp_path) -> None:
    out = tmp_path / "dev.h5"
    r = subprocess.run([sys.executable, "-m", "nwhil", "device", "generate", "--wires", "100000000",
                        "--seed", "1", "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "above the budget" in lines[0] and "Traceback" not in r.stderr
    assert not out.exists()
