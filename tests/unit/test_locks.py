"""The service images install pinned, hashed requirements (docker/*.lock, `make lock`) that
still satisfy pyproject.toml: a dependency added or re-ranged without `make lock` fails here."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCKS = {
    "runtime": ROOT / "docker" / "requirements.lock",
    "export": ROOT / "docker" / "requirements-export.lock",
    "export-nodeps": ROOT / "docker" / "requirements-export-nodeps.lock",
}
# The image's interpreter and platform: markers are read as pip reads them there.
IMAGE = {"python_version": "3.11", "python_full_version": "3.11.11", "sys_platform": "linux"}
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)")


def _pins(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in path.read_text().splitlines():
        if match := _PIN.match(line):
            current = canonicalize_name(match[1])
            pins[current] = (match[2], 0)
        elif current and "--hash=sha256:" in line:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def _applies(requirement: Requirement) -> bool:
    return requirement.marker is None or requirement.marker.evaluate(IMAGE)


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_pin_carries_its_hashes(lock: str) -> None:
    pins = _pins(LOCKS[lock])
    assert pins
    assert {name for name, (_, hashes) in pins.items() if hashes == 0} == set()


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("runtime", PROJECT["dependencies"]),
        ("export", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["export"]),
    ],
)
def test_the_lock_satisfies_pyproject(lock: str, requirements: list[str]) -> None:
    pins = _pins(LOCKS[lock])
    for text in requirements:
        requirement = Requirement(text)
        if not _applies(requirement):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in {LOCKS[lock].name}: run `make lock`"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} in {LOCKS[lock].name} is outside {requirement.specifier}"
        )


def test_the_export_image_keeps_the_runtime_versions() -> None:
    runtime, export = _pins(LOCKS["runtime"]), _pins(LOCKS["export"])
    changed = {n: (v, export[n][0]) for n, (v, _) in runtime.items() if export[n][0] != v}
    assert changed == {}


def test_the_images_install_only_with_hashes() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    installs = re.findall(r"pip install[^\n]*", dockerfile)
    assert installs
    for install in installs:
        assert "--require-hashes -r docker/" in install or "--no-deps ." in install, install
