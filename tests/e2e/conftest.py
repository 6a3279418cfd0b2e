"""The whole stack for end-to-end tests: the real servers plus a gateway and a worker."""

import io
import threading
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from PIL import Image

from devstack.process import ServiceProcess, free_port
from devstack.servers import MongoServer, RedisServer, S3Server, TritonServer
from devstack.stack import (
    gateway_process,
    gateway_url,
    internal_url,
    service_env,
    worker_process,
)
from storage.jobs import utcnow
from tests.e2e.clients import ADMIN_KEY, CreateKey, api_client, key_creator
from tests.e2e.jobs import ImageServer
from tests.e2e.receiver import Receiver, running_receiver
from tests.e2e.unfinished import unfinished_jobs

# Limits lowered so that the failure cases stay small and fast.
MAX_BYTES = 1024 * 1024
MAX_PIXELS = 4_000_000
# More worker processes than Triton instances, so requests queue and get batched.
WORKER_CONCURRENCY = 8

# Some tests stop Triton on purpose: retry fast, give up soon. Webhook retries likewise.
TEST_SETTINGS = {
    "GATEWAY_MAX_UPLOAD_BYTES": str(MAX_BYTES),
    "WORKER_FETCH__ALLOW_LOOPBACK": "true",
    "WORKER_FETCH__MAX_BYTES": str(MAX_BYTES),
    "WORKER_FETCH__READ_TIMEOUT_S": "5",
    "WORKER_IMAGE__MAX_PIXELS": str(MAX_PIXELS),
    "WORKER_RETRY__MAX_RETRIES": "3",
    "WORKER_RETRY__BACKOFF_BASE_S": "0.3",
    "WORKER_RETRY__BACKOFF_MAX_S": "1",
    "WORKER_WEBHOOK__RETRY_SCHEDULE_S": "[0.2, 0.5, 1]",
    "WORKER_WEBHOOK__ALLOW_LOOPBACK": "true",
    "GATEWAY_AUTH__BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
    "GATEWAY_AUTH__CACHE_S": "1",
    # Tests submit the same sample images again and again and expect them scored each time;
    # test_reuse.py runs its own gateway and worker with reuse on.
    "WORKER_REUSE_RESULTS": "false",
    # Tests poll hard; the rate-limit test gives its own key a small limit.
    "GATEWAY_RATE_LIMIT__REQUESTS_PER_S": "100000",
    "GATEWAY_RATE_LIMIT__BURST": "100000",
}


@pytest.fixture(scope="session")
def stack_env(
    redis_server: RedisServer,
    mongo_server: MongoServer,
    s3_server: S3Server,
    triton_server: TritonServer,
) -> dict[str, str]:
    env = service_env(
        redis_server.url, mongo_server.url, s3_server.endpoint, triton_server.grpc_url
    )
    return {**env, **TEST_SETTINGS}


@pytest.fixture(scope="session")
def worker(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    logs = tmp_path_factory.mktemp("worker")
    with worker_process(
        stack_env, logs, name="e2e", concurrency=WORKER_CONCURRENCY, metrics_port=free_port()
    ) as service:
        yield service


@pytest.fixture(scope="session")
def gateway_service(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    logs = tmp_path_factory.mktemp("gateway")
    with gateway_process(free_port(), stack_env, logs) as service:
        yield service


@pytest.fixture(scope="session")
def gateway(gateway_service: ServiceProcess) -> str:
    return gateway_url(gateway_service)


@pytest.fixture(scope="session")
def gateway_internal(gateway_service: ServiceProcess) -> str:
    """The gateway's internal port: `/healthz`, `/readyz`, `/metrics`."""
    return internal_url(gateway_service)


@pytest.fixture
def api(gateway: str, worker: ServiceProcess) -> Iterator[httpx.Client]:
    with api_client(gateway) as client:
        yield client


def _write_test_images(root: Path, samples: Path) -> None:
    for label in ("df", "real"):
        (root / label).mkdir(parents=True)
        for crop in (samples / label).glob("*.jpg"):
            (root / label / crop.name).write_bytes(crop.read_bytes())
    (root / "not-an-image.jpg").write_text("<html><body>hello</body></html>")
    # A JPEG signature, then padding: too large before anything decodes it.
    (root / "too-large.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * (MAX_BYTES + 10))
    buffer = io.BytesIO()
    Image.new("L", (2500, 2500)).save(buffer, format="PNG")  # 6.25 Mpx in a few KB
    (root / "too-many-pixels.png").write_bytes(buffer.getvalue())


@pytest.fixture(scope="session")
def image_server(
    tmp_path_factory: pytest.TempPathFactory, samples_dir: Path
) -> Iterator[ImageServer]:
    root = tmp_path_factory.mktemp("images")
    _write_test_images(root, samples_dir)
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ImageServer(root=root, base_url=f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def create_key(stack_env: dict[str, str]) -> CreateKey:
    """`python -m gateway.keys create` against the stack; returns the new raw key."""
    return key_creator(stack_env)


# Jobs a test leaves behind get this long to end after it (they run on a shared worker).
UNFINISHED_WAIT_S = 90


@pytest.fixture(autouse=True)
def every_job_ends(mongo_server: MongoServer) -> Iterator[None]:
    """A job left queued or running, or an explanation left pending, is a test failure,
    whichever test created it (its work would also land in the next test's figures)."""
    since = utcnow() - timedelta(seconds=1)
    yield
    stuck = unfinished_jobs(mongo_server.url, since, UNFINISHED_WAIT_S)
    assert not stuck, f"jobs or explanations that never ended: {stuck}"
