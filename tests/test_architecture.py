"""The layers point one way: ``nwhil -> nwmodel -> hardware -> nwphys -> nwutil``.

Read from the source (every ``import``, at module level or inside a function), so a lazy import
that crosses a layer the wrong way fails here too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nwutil", "nwphys", "hardware", "nwmodel", "nwhil")
#: package -> the project packages it may import.
ALLOWED = {
    "nwutil": set(),
    "nwphys": {"nwutil"},
    "hardware": {"nwutil", "nwphys"},
    "nwmodel": {"nwutil", "nwphys", "hardware"},
    "nwhil": {"nwutil", "nwphys", "hardware", "nwmodel"},
}
#: hardware reaches the physics only through its simulated backend.
HARDWARE_TO_NWPHYS = {"backends/simulated.py"}


def _imports(path: Path) -> set[str]:
    """Top-level project packages ``path`` imports (absolute imports; relative ones stay inside)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_the_layers_below_it(package: str) -> None:
    wrong = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _imports(path) - ALLOWED[package] - {package}
        if bad:
            wrong[str(path.relative_to(ROOT))] = sorted(bad)
    assert wrong == {}


def test_hardware_imports_the_physics_only_in_its_simulated_backend() -> None:
    users = {
        str(p.relative_to(ROOT / "hardware"))
        for p in (ROOT / "hardware").rglob("*.py")
        if "nwphys" in _imports(p)
    }
    assert users <= HARDWARE_TO_NWPHYS, sorted(users - HARDWARE_TO_NWPHYS)
    assert "backends/simulated.py" in users


def test_the_checker_sees_a_lazy_import_inside_a_function(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from nwmodel.models import esn\n    import hardware.device\n")
    assert _imports(f) == {"nwmodel", "hardware"}
