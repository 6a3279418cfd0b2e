"""`pip install ./client` into a fresh virtual environment brings no server dependency.

Needs the package index (or pip's cache) for httpx and pydantic.
"""

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_DEPENDENCIES = {
    "fastapi",
    "uvicorn",
    "celery",
    "redis",
    "pymongo",
    "minio",
    "tritonclient",
    "numpy",
    "pillow",
    "prometheus-client",
    "c2pa-python",
    "deepfake-detection-service",
}


def _run(*args: str | Path) -> str:
    done = subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_client_installs_without_the_server(tmp_path: Path) -> None:
    # Built from a copy: pip builds in the source tree, which would leave build/ behind.
    source = tmp_path / "client"
    shutil.copytree(
        ROOT / "client", source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    venv.create(tmp_path / "venv", with_pip=True)
    bin_dir = tmp_path / "venv" / ("Scripts" if sys.platform == "win32" else "bin")
    python = bin_dir / "python"
    pip = (python, "-m", "pip", "--disable-pip-version-check")
    _run(*pip, "install", "-q", source)
    listed = json.loads(_run(*pip, "list", "--format=json"))
    installed = {item["name"].lower().replace("_", "-") for item in listed}
    assert {"deepfake-client", "httpx", "pydantic"} <= installed
    assert not installed & SERVER_DEPENDENCIES
    # No CLI extra: the library works, and the command says what it needs.
    _run(python, "-c", "from deepfake_client import DetectionClient, verify_webhook")
    command = subprocess.run(
        [str(bin_dir / "deepfake"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert command.returncode == 2
    assert "deepfake-client[cli]" in command.stderr
