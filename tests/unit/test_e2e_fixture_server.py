"""The cluster tests' in-cluster fixture server (scripts/e2e_fixture_server.py)."""

import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "e2e_fixture_server.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("e2e_fixture_server", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fixture_url(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "df00204.jpg").write_bytes(b"\xff\xd8 a crop")
    (tmp_path.parent / "secret.txt").write_text("outside")
    server = _load().make_server("127.0.0.1", 0, tmp_path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_it_serves_the_samples_and_nothing_else(fixture_url: str) -> None:
    crop = httpx.get(f"{fixture_url}/samples/df00204.jpg")
    assert (crop.status_code, crop.content) == (200, b"\xff\xd8 a crop")
    assert crop.headers["content-type"] == "image/jpeg"
    assert httpx.get(f"{fixture_url}/samples/missing.jpg").status_code == 404
    assert httpx.get(f"{fixture_url}/samples/..%2Fsecret.txt").status_code == 404
    assert httpx.get(f"{fixture_url}/samples/../secret.txt").status_code == 404
    assert httpx.get(f"{fixture_url}/healthz").status_code == 200


def test_it_records_webhooks_by_path(fixture_url: str) -> None:
    assert httpx.get(f"{fixture_url}/received", params={"path": "/hooks/a"}).json() == []
    body = b'{"type":"job.succeeded"}'
    answer = httpx.post(f"{fixture_url}/hooks/a", content=body, headers={"webhook-id": "m1"})
    assert answer.status_code == 200
    httpx.post(f"{fixture_url}/hooks/b", content=b"{}")
    (received,) = httpx.get(f"{fixture_url}/received", params={"path": "/hooks/a"}).json()
    assert received["body"] == body.decode()
    assert received["headers"]["webhook-id"] == "m1"
