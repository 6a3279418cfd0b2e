"""A whole stack per test, so a test may kill or restart any server of it.

The session servers of tests/conftest.py are shared by other tests and never stopped here.
Each stack keeps what a restart must not lose: Redis writes an append-only file, SecantusDB
stores on disk (a container keeps its volumes over a stop), and the object store (moto keeps
objects in memory only) sits behind a TCP proxy that the tests cut instead of stopping it.
The servers are of the session's kind (`test_servers`): local stand-ins or containers.
"""

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from devstack.process import free_port
from devstack.stack import beat_process, gateway_process, service_env, worker_process
from tests.conftest import WEIGHTS_DIR
from tests.e2e.conftest import TEST_SETTINGS, image_server
from tests.e2e.jobs import ImageServer
from tests.e2e.receiver import Receiver, running_receiver
from tests.faults.proxy import TcpProxy
from tests.faults.stack import FaultStack
from tests.servers.factory import Server, Servers, discard

__all__ = ["image_server"]  # the e2e tier's image server, shared by this tier

WORKER_CONCURRENCY = 4
Started = TypeVar("Started", bound=Server)

# Outages here last seconds: tasks retry long enough to outlast them, and the reconciler
# looks every 2 s for work a crash lost.
FAULT_SETTINGS = {
    **TEST_SETTINGS,  # reuse off included: the batches repeat four images
    "WORKER_RETRY__MAX_RETRIES": "60",
    "WORKER_RETRY__BACKOFF_BASE_S": "0.5",
    "WORKER_RETRY__BACKOFF_MAX_S": "2",
    "WORKER_MONGO__TIMEOUT_MS": "2000",
    "WORKER_RECONCILER__INTERVAL_S": "2",
    "WORKER_RECONCILER__STUCK_AFTER_S": "10",
    "WORKER_RECONCILER__EVENT_AFTER_S": "3",
    "WORKER_RECONCILER__DELIVERY_AFTER_S": "5",
    "WORKER_RECONCILER__MODEL_CHECK_INTERVAL_S": "2",
}


@pytest.fixture(scope="session")
def fault_model_repository(test_servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (WEIGHTS_DIR / "MesoInception_DF.h5").is_file():
        pytest.fail(f"MesoNet weights not found in {WEIGHTS_DIR}; set MESONET_WEIGHTS_DIR")
    return test_servers.model_repository(tmp_path_factory.mktemp("fault-models"), WEIGHTS_DIR)


@pytest.fixture(scope="session")
def crop_urls(image_server: ImageServer, samples_dir: Path) -> list[str]:
    """The four MesoNet sample crops, served over HTTP."""
    crops = sorted(samples_dir.glob("*/*.jpg"))
    return [image_server.url(f"{crop.parent.name}/{crop.name}") for crop in crops]


@pytest.fixture(scope="session")
def fault_receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@contextlib.contextmanager
def running_stack(servers: Servers, root: Path, model_repository: Path) -> Iterator[FaultStack]:
    """Every server of a stack under `root`, started together; discarded at the end."""
    logs = root / "logs"
    with contextlib.ExitStack() as cleanup:

        def started(server: Started) -> Started:
            # The stack is thrown away: no need to be gentle (a container is removed).
            cleanup.callback(discard, server)
            server.start()
            return server

        # Triton takes longest: it starts first, and the stores start while it loads.
        triton = started(servers.triton(model_repository, root / "triton", log_dir=logs))
        redis = servers.redis(root / "redis", log_dir=logs, persistent=True)
        mongo = servers.mongo(root / "mongo", log_dir=logs)
        s3 = servers.s3(root / "s3", log_dir=logs)
        stores: tuple[Server, ...] = (redis, mongo, s3)
        for store in stores:
            started(store)
        for store in stores:
            store.wait_ready()
        # Before its address goes into the services' settings: a first start that lost a
        # port to another process comes up on new ones.
        triton.wait_ready()
        s3_proxy = cleanup.enter_context(TcpProxy(s3.port))
        env = service_env(redis.url, mongo.url, s3_proxy.endpoint, triton.grpc_url)
        env |= FAULT_SETTINGS
        port = free_port()
        gateway = started(gateway_process(port, env, logs))
        worker = started(worker_process(env, logs, name="faults", concurrency=WORKER_CONCURRENCY))
        beat = started(beat_process(env, logs, root / "beat" / "schedule"))
        for waited in (gateway, worker, beat):
            waited.wait_ready()
        yield FaultStack(
            redis=redis,
            mongo=mongo,
            s3=s3,
            s3_proxy=s3_proxy,
            triton=triton,
            gateway=gateway,
            worker=worker,
            beat=beat,
            gateway_url=f"http://127.0.0.1:{port}",
            logs=logs,
        )


@pytest.fixture
def stack(
    test_servers: Servers, tmp_path: Path, fault_model_repository: Path
) -> Iterator[FaultStack]:
    """A stack of the test's own: for faults that leave it in a state worth throwing away."""
    with running_stack(test_servers, tmp_path, fault_model_repository) as running:
        yield running


@pytest.fixture(scope="module")
def module_stack(
    test_servers: Servers, tmp_path_factory: pytest.TempPathFactory, fault_model_repository: Path
) -> Iterator[FaultStack]:
    """A stack shared by one module's tests, each of which brings back what it stopped."""
    root = tmp_path_factory.mktemp("stack")
    with running_stack(test_servers, root, fault_model_repository) as running:
        yield running
