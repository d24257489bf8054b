"""Shared fixtures and options of the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device-address",
        default=None,
        help="VISA address of a real instrument bench; enables tests marked bench_device",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    address = config.getoption("--device-address")
    try:
        import torch

        has_cuda = bool(torch.cuda.is_available())
    except Exception:  # pragma: no cover - torch missing
        has_cuda = False
    skip_bench = pytest.mark.skip(reason="real-instrument test: pass --device-address to enable")
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "bench_device" in item.keywords and not address:
            item.add_marker(skip_bench)
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture
def seed() -> int:
    """A fixed seed for random geometry and weights; tests derive their streams from it."""
    return 20261128


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    """A generator seeded by :func:`seed` (never global random state)."""
    return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The benchmark data directory: ``$NWHIL_DATA`` or ``../shared/data`` beside the repo."""
    d = Path(os.environ.get("NWHIL_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not d.is_dir():
        pytest.skip(f"benchmark data directory {d} not found (set NWHIL_DATA)")
    return d


@pytest.fixture
def device_address(request: pytest.FixtureRequest) -> str | None:
    """The VISA address given with ``--device-address`` (None when not given)."""
    return request.config.getoption("--device-address")


@pytest.fixture
def one_torch_thread():
    """Run torch on one intra-op thread (the CI box has few cores shared by many jobs)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
