"""The layering contracts ([tool.importlinter] in pyproject.toml) hold, and break when a
module crosses a layer: a copy of the tree with one import added fails `lint-imports`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ["gateway", "worker", "storage", "model_repository", "devstack", "evaluation", "bench"]


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'client' / 'src'}"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The packages the contracts name and the configuration, copied."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copytree(ROOT / "client" / "src", tmp_path / "client" / "src", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("gateway/errors.py", "import worker.settings", "gateway and worker are independent"),
        ("worker/metrics.py", "import gateway.settings", "gateway and worker are independent"),
        ("storage/jobs.py", "import gateway.settings", "storage imports neither"),
        ("worker/faces.py", "import model_repository.export", "the serving path imports no"),
        ("client/src/deepfake_client/models.py", "import storage.jobs", "the client imports"),
    ],
)
def test_a_module_that_crosses_a_layer_breaks_its_contract(
    tree: Path, module: str, line: str, contract: str
) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = _lint(tree)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    # Indirect imports count: storage importing the gateway also joins worker to it.
    assert any(row.startswith(contract) for row in broken), result.stdout
