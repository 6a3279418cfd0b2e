"""The layering the docs describe (docs/development.md, "Layering"): the two deployables never
import each other, `storage/` imports neither, and the client imports nothing of the service."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICE = {"gateway", "worker", "storage", "model_repository", "devstack", "evaluation", "bench"}
FORBIDDEN = {
    "gateway": {"worker"},
    "worker": {"gateway"},
    "storage": {"gateway", "worker"},
    "client": SERVICE,
}


def _imported_packages(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(), str(source))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_may(package: str) -> None:
    offending = {
        str(source.relative_to(ROOT)): sorted(_imported_packages(source) & FORBIDDEN[package])
        for source in (ROOT / package).rglob("*.py")
        if ".egg-info" not in str(source)
    }
    assert not {path: names for path, names in offending.items() if names}
