"""Triton from NVIDIA's image, serving the model repository exported the production way.

What compose runs: the same image, arguments, shared memory and limits, and the repository
`python -m model_repository.production` writes, with the onnxruntime backend and the committed
configs (dynamic batching, warmup). Without a GPU the served copy puts every model on CPU
instances (`--device cpu`, as compose.cpu.yaml does); with one, the container gets every GPU
(`--gpus all`, as compose's device reservation does).
"""

import os
from pathlib import Path
from typing import Any

from testcontainers.core.container import DockerContainer

from devstack.process import free_port, http_status
from devstack.servers import TritonAddresses
from model_repository.local import MODEL_NAME, read_config, write_config
from model_repository.production import Device, prepare_repository, served_config
from tests.servers.containers import ContainerServer

# Triton 2.51 with the onnxruntime backend (ONNX Runtime 1.19), as in compose.yaml.
TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:24.10-py3"
# compose.yaml's `command` for Triton, word for word (a unit test compares them).
TRITON_COMMAND = [
    "tritonserver",
    "--model-repository=/models",
    "--model-control-mode=explicit",
    "--load-model=*",
    "--disable-auto-complete-config",
    "--exit-on-error=true",
    "--log-verbose=0",
]
HTTP_PORT, GRPC_PORT, METRICS_PORT = 8000, 8001, 8002
REPOSITORY_MOUNT = "/models"
# compose.yaml's `shm_size` and `ulimits` for Triton.
SHM_SIZE = "1gb"
STACK_BYTES = 64 * 1024 * 1024


def served_repository(root: Path, weights_dir: Path, *, device: Device) -> Path:
    """`root/models` as the production exporter leaves it for `device`: the detectors and the
    face detector exported (unless already there) with their served configs, and any other
    model already exported there (the tests' Hugging Face classifier) served the same way."""
    models = root / "models"
    written = prepare_repository(models, root / "cache", weights_dir=weights_dir, device=device)
    for config_path in sorted(models.glob("*/config.pbtxt")):
        if config_path.parent not in written:
            write_config(config_path.parent, served_config(read_config(config_path), device=device))
    # The container's user is not this one: every folder must be listable (files are 0644).
    for folder in (models, *(path for path in models.rglob("*") if path.is_dir())):
        os.chmod(folder, 0o755)
    return models


def run_options(*, gpu: bool) -> dict[str, Any]:
    """docker-py `containers.create` options beyond the image, command, ports and volumes
    (docker-py turns these dicts into its `Ulimit` and `DeviceRequest` types)."""
    options: dict[str, Any] = {
        "shm_size": SHM_SIZE,
        "ulimits": [
            {"name": "memlock", "soft": -1, "hard": -1},
            {"name": "stack", "soft": STACK_BYTES, "hard": STACK_BYTES},
        ],
    }
    if gpu:
        # `docker run --gpus all`; needs the NVIDIA Container Toolkit on the engine's host.
        options["device_requests"] = [{"count": -1, "capabilities": [["gpu"]]}]
    return options


class TritonContainerServer(TritonAddresses, ContainerServer):
    """`tritonserver` in NVIDIA's image, `repository` mounted read-only on /models."""

    # The first start after a pull loads every model and runs its warmup.
    ready_timeout_s = 600.0

    def __init__(
        self,
        repository: Path,
        *,
        gpu: bool,
        model_name: str | None = MODEL_NAME,
        log_dir: Path | None = None,
    ) -> None:
        super().__init__("triton", log_dir=log_dir)
        self.repository = repository
        self.gpu = gpu
        self.model_name = model_name
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.metrics_port = free_port()

    def build(self) -> DockerContainer:
        # No testcontainers wait strategy: its HTTP one would poll a container that exited on
        # a bad config until the timeout; `wait_ready` notices the exit and shows the log.
        container = DockerContainer(TRITON_IMAGE).with_command(list(TRITON_COMMAND))
        container.with_volume_mapping(self.repository, REPOSITORY_MOUNT, "ro")
        for inside, outside in (
            (HTTP_PORT, self.http_port),
            (GRPC_PORT, self.grpc_port),
            (METRICS_PORT, self.metrics_port),
        ):
            container.with_bind_ports(inside, outside)
        return container.with_kwargs(**run_options(gpu=self.gpu))

    def is_ready(self) -> bool:
        if http_status(self.http_port, "/v2/health/ready") != 200:
            return False
        return (
            self.model_name is None
            or http_status(self.http_port, f"/v2/models/{self.model_name}/ready") == 200
        )
