"""The devstack launchers: every session server answers; Triton survives a kill and restart."""

import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import tritonclient.grpc as triton_grpc
from minio import Minio
from pymongo import AsyncMongoClient

from devstack.servers import (
    MongoServer,
    RedisServer,
    S3Server,
    ServerError,
    ServiceProcess,
    TritonServer,
    http_status,
    log_line_ready,
    wait_until,
)
from model_repository.local import INPUT_NAME, INPUT_SIZE, OUTPUT_NAME
from storage.settings import ObjectStoreSettings

pytestmark = pytest.mark.integration

IDENTITY_CONFIG = """
name: "identity"
backend: "python"
max_batch_size: 0
input [ { name: "INPUT" data_type: TYPE_UINT8 dims: [ -1 ] } ]
output [ { name: "OUTPUT" data_type: TYPE_UINT8 dims: [ -1 ] } ]
instance_group [ { kind: KIND_CPU count: 1 } ]
"""

IDENTITY_MODEL = """
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        inputs = [pb_utils.get_input_tensor_by_name(r, "INPUT").as_numpy() for r in requests]
        return [pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT", i)]) for i in inputs]
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_redis_answers(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.set("devstack-probe", b"1")
        assert client.get("devstack-probe") == b"1"
    finally:
        client.close()


@pytest.mark.anyio
async def test_mongo_stores_and_finds(mongo_server: MongoServer) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_server.url)
    try:
        things = client["test_servers"]["things"]
        inserted = await things.insert_one({"name": "probe"})
        found = await things.find_one({"_id": inserted.inserted_id})
        assert found is not None
        assert found["name"] == "probe"
    finally:
        await client.close()


def test_s3_stores_and_returns_objects(s3_server: S3Server) -> None:
    # The service's default credentials, which moto (any) and MinIO (its root user) accept;
    # the client must be told the region moto serves.
    defaults = ObjectStoreSettings()
    client = Minio(
        s3_server.endpoint,
        defaults.access_key.get_secret_value(),
        defaults.secret_key.get_secret_value(),
        secure=False,
        region="us-east-1",
    )
    client.make_bucket("test-servers")
    client.put_object("test-servers", "probe", io.BytesIO(b"payload"), length=7)
    response = client.get_object("test-servers", "probe")
    try:
        assert response.read() == b"payload"
    finally:
        response.close()
        response.release_conn()


def test_triton_serves_the_detector(triton_server: TritonServer) -> None:
    client = triton_grpc.InferenceServerClient(triton_server.grpc_url)
    images = np.zeros((2, INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)
    request = triton_grpc.InferInput(INPUT_NAME, list(images.shape), "UINT8")
    request.set_data_from_numpy(images)
    result = client.infer("deepfake_detector", [request]).as_numpy(OUTPUT_NAME)
    client.close()
    assert result.shape == (2, 1)
    assert np.all((result >= 0) & (result <= 1))


def test_triton_restarts_on_the_same_ports(tmp_path: Path) -> None:
    model_dir = tmp_path / "repository" / "identity"
    (model_dir / "1").mkdir(parents=True)
    (model_dir / "config.pbtxt").write_text(IDENTITY_CONFIG)
    (model_dir / "1" / "model.py").write_text(IDENTITY_MODEL)
    with TritonServer(tmp_path / "repository", tmp_path, model_name="identity") as triton:
        triton.kill()
        assert http_status(triton.http_port, "/v2/health/live") is None
        assert not list(Path("/dev/shm").glob(f"{triton.shm_prefix}*"))
        triton.start()
        triton.wait_ready()
        client = triton_grpc.InferenceServerClient(triton.grpc_url)
        request = triton_grpc.InferInput("INPUT", [3], "UINT8")
        request.set_data_from_numpy(np.array([1, 2, 3], dtype=np.uint8))
        output = client.infer("identity", [request]).as_numpy("OUTPUT")
        client.close()
        assert output.tolist() == [1, 2, 3]


def test_a_dying_server_is_reported_with_its_log(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('no config found'); raise SystemExit(3)"]
    doomed = ServiceProcess("doomed", command, log_path=tmp_path / "doomed.log", ready=_never)
    doomed.start()
    try:
        with pytest.raises(ServerError, match=r"exited with code 3(.|\n)*no config found"):
            doomed.wait_ready(timeout_s=30)
    finally:
        doomed.stop()


def test_stop_takes_the_children_along(tmp_path: Path) -> None:
    # The parent ignores SIGTERM and its child would outlive it: stop() must kill both.
    script = (
        "import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "child = subprocess.Popen(['sleep', '600']); print('child', child.pid, flush=True); "
        "time.sleep(600)"
    )
    service = ServiceProcess(
        "parent", [sys.executable, "-c", script], log_path=tmp_path / "p.log", ready=_has_child
    )
    service.stop_timeout_s = 0.5
    with service:
        child_pid = int(service.log_since_start().split()[1])
        assert _alive(child_pid)
    wait_until(lambda: not _alive(child_pid), timeout_s=5)


def _never(_service: ServiceProcess) -> bool:
    return False


_has_child = log_line_ready("child ")


def _alive(pid: int) -> bool:
    """Running and not a zombie (a container's PID 1 may never reap orphans)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
