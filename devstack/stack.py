"""The whole service on 127.0.0.1: Redis, SecantusDB, moto S3, Triton, the gateway, a worker,
a webhooks worker (deliveries never take the inference worker's processes) and Celery
beat (the reconciler's schedule).

Data lives under one folder (`.local/` in the repo root by default); servers start in
dependency order, each waited for, and stop in reverse order.
"""

import logging
import os
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

from devstack.servers import (
    HOST,
    ManagedProcess,
    MongoServer,
    RedisServer,
    S3Server,
    ServiceProcess,
    TritonServer,
    compute_tier,
    free_port,
    http_ready,
    log_line_ready,
)
from model_repository.export import ensure_mesonet_model
from model_repository.faces import ensure_face_detector
from model_repository.local import MODEL_NAME, build_local_repository
from model_repository.local_backend.providers import provider_from_environment
from model_repository.production import MESONET_MODELS
from storage.jobs import CONSUME_ORDER, Queue

# The inference worker's queues: every one but `webhooks`, which a worker of its own takes.
JOB_QUEUES = tuple(queue for queue in CONSUME_ORDER if queue is not Queue.WEBHOOKS)

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WEIGHTS_DIR = REPO_ROOT.parent / "shared" / "models" / "mesonet"

Server = TypeVar("Server", bound=ManagedProcess)


class StackError(RuntimeError):
    """The stack cannot start as configured."""


@dataclass(frozen=True)
class Ports:
    # Off the usual defaults (6379, 27017, 9000, 8000-8002), which local services often hold.
    gateway: int = 8080
    # Probes and metrics (GATEWAY_INTERNAL__PORT), never the API.
    gateway_internal: int = 8089
    redis: int = 6390
    mongo: int = 27027
    s3: int = 9090
    triton_http: int = 8100
    triton_grpc: int = 8101
    triton_metrics: int = 8102
    worker_metrics: int = 9808
    webhook_worker_metrics: int = 9809


def port_flag(name: str) -> str:
    return f"--{name.replace('_', '-')}-port"


def port_env(name: str) -> str:
    return f"DEVSTACK_{name.upper()}_PORT"


@dataclass(frozen=True)
class StackConfig:
    root: Path = REPO_ROOT / ".local"
    ports: Ports = field(default_factory=Ports)
    weights_dir: Path = DEFAULT_WEIGHTS_DIR
    # More processes than cores: a task spends most of its time waiting on MongoDB, the
    # object store and Triton (`make bench`: 8 processes finish ~1.3x the jobs 2 do on 2 cores).
    worker_concurrency: int = 8
    # Delivery processes mostly wait on receivers (up to the webhook timeout); one tenant
    # holds at most `WORKER_WEBHOOK__MAX_IN_FLIGHT_PER_TENANT` of them.
    webhook_worker_concurrency: int = 8
    triton_instances: int = 2


# `make up` is for trying the service on one's own machine: no API keys, said out loud.
# The variables' values from the environment win, e.g. GATEWAY_AUTH__DISABLED=false.
LOCAL_DEVELOPMENT = {
    name: os.environ.get(name, default)
    for name, default in {"GATEWAY_AUTH__DISABLED": "true"}.items()
}


def service_env(
    redis_url: str, mongo_url: str, s3_endpoint: str, triton_grpc_url: str
) -> dict[str, str]:
    """What the gateway and the workers need to find the servers (both prefixes, one dict)."""
    settings = {
        "MONGO__URL": mongo_url,
        "OBJECT_STORE__ENDPOINT": s3_endpoint,
        "CELERY__BROKER_URL": redis_url,
        "TRITON__URL": triton_grpc_url,
    }
    return {
        f"{prefix}_{key}": value
        for prefix in ("GATEWAY", "WORKER")
        for key, value in settings.items()
    }


def prepare_model_repository(
    root: Path, weights_dir: Path, *, instances: int = 2, provider: str | None = None
) -> Path:
    """Export the detectors once into `root/models` (production layout), then derive the
    repository Triton serves here, its sessions on `provider` (None: CUDA when usable, see
    model_repository.local_backend.providers). Weights missing from `weights_dir` are
    downloaded."""
    production = root / "models"
    for name, weights in MESONET_MODELS.items():
        ensure_mesonet_model(production, name, str(weights_dir / weights), root / "cache")
    ensure_face_detector(production)
    provider = provider or provider_from_environment()
    return build_local_repository(
        root / "model_repository", production, instances=instances, provider=provider
    )


def gateway_process(
    port: int, env: dict[str, str], log_dir: Path, *, internal_port: int | None = None
) -> ServiceProcess:
    """The gateway on `port`, its probes and metrics on `internal_port` (a free one if None;
    `internal_url` gives it back)."""
    internal = free_port() if internal_port is None else internal_port
    env = {**env, "GATEWAY_INTERNAL__HOST": HOST, "GATEWAY_INTERNAL__PORT": str(internal)}
    command = [sys.executable, "-m", "uvicorn", "gateway.main:app"]
    command += ["--host", HOST, "--port", str(port), "--workers", "1"]
    return ServiceProcess(
        "gateway",
        command,
        log_path=log_dir / "gateway.log",
        ready=http_ready(port, "/healthz"),
        env=env,
        cwd=REPO_ROOT,
    )


def gateway_url(gateway: ServiceProcess) -> str:
    """Where a gateway started by `gateway_process` serves the API."""
    command = gateway.command()
    return f"http://{HOST}:{command[command.index('--port') + 1]}"


def internal_url(gateway: ServiceProcess) -> str:
    """Where a gateway started by `gateway_process` serves `/metrics` and its probes."""
    return f"http://{HOST}:{gateway.env['GATEWAY_INTERNAL__PORT']}"


def worker_process(
    env: dict[str, str],
    log_dir: Path,
    *,
    name: str = "worker",
    concurrency: int = 2,
    metrics_port: int = 0,
    queues: tuple[Queue, ...] = CONSUME_ORDER,
) -> ServiceProcess:
    """A worker consuming `queues` (every queue by default); `metrics_port` 0 serves no
    metrics (workers of one host would clash on a shared default)."""
    command = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker"]
    # Highest priority first (see storage.jobs.CONSUME_ORDER).
    command += ["-Q", ",".join(queue.value for queue in queues)]
    command += ["--concurrency", str(concurrency), "--pool", "prefork"]
    # One worker per queue set needs no cluster chatter: mingle alone costs a second.
    command += ["-n", f"{name}@%h", "--loglevel", "INFO", "--without-mingle", "--without-gossip"]
    return ServiceProcess(
        name,
        compute_tier(command),
        log_path=log_dir / f"{name}.log",
        # `celery inspect ping` takes seconds; the worker logs "<name>@<host> ready." at once.
        ready=log_line_ready("ready."),
        env={**env, "WORKER_METRICS__PORT": str(metrics_port)},
        cwd=REPO_ROOT,
        # Warm shutdown lets running tasks finish (acks_late requeues them otherwise).
        stop_timeout_s=30.0,
    )


def beat_process(env: dict[str, str], log_dir: Path, schedule: Path) -> ServiceProcess:
    """Celery beat: sends the reconciler's periodic tasks. One per deployment."""
    schedule.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "beat"]
    command += ["--schedule", str(schedule), "--loglevel", "INFO"]
    return ServiceProcess(
        "beat",
        command,
        log_path=log_dir / "beat.log",
        ready=log_line_ready("beat: Starting..."),
        env=env,
        cwd=REPO_ROOT,
    )


def check_ports_free(ports: Ports) -> None:
    for name, port in asdict(ports).items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # As the servers bind: a port whose old connections linger in TIME_WAIT (right
            # after Ctrl-C) is free to them, and a port someone listens on is not.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, port))
            except OSError as error:
                raise StackError(
                    f"port {port} ({name}) on {HOST} is unavailable ({error.strerror}); "
                    f"pick another with {port_flag(name)} or {port_env(name)}"
                ) from error


class Stack:
    """Starts everything with `start()`, stops what started with `stop()` (idempotent)."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.log_dir = config.root / "logs"
        self.servers: list[ManagedProcess] = []
        # Where Triton's ONNX Runtime sessions run, once `start()` has chosen.
        self.execution_provider = ""

    @property
    def gateway_url(self) -> str:
        return f"http://{HOST}:{self.config.ports.gateway}"

    @property
    def gateway_internal_url(self) -> str:
        return f"http://{HOST}:{self.config.ports.gateway_internal}"

    @property
    def metrics_urls(self) -> dict[str, str]:
        """Prometheus scrape targets by server."""
        ports = self.config.ports
        return {
            "gateway": f"{self.gateway_internal_url}/metrics",
            "worker": f"http://{HOST}:{ports.worker_metrics}/metrics",
            "webhooks worker": f"http://{HOST}:{ports.webhook_worker_metrics}/metrics",
            "Triton": f"http://{HOST}:{ports.triton_metrics}/metrics",
        }

    def start(self) -> None:
        config, ports, root = self.config, self.config.ports, self.config.root
        check_ports_free(ports)
        started = time.monotonic()
        self.execution_provider = provider_from_environment()
        repository = prepare_model_repository(
            root,
            config.weights_dir,
            instances=config.triton_instances,
            provider=self.execution_provider,
        )
        log.info("model repository ready in %.1fs: %s", time.monotonic() - started, repository)
        redis = self._launch(RedisServer(root / "redis", port=ports.redis, log_dir=self.log_dir))
        mongo = self._launch(MongoServer(root / "mongo", port=ports.mongo, log_dir=self.log_dir))
        s3 = self._launch(S3Server(root / "s3", port=ports.s3, log_dir=self.log_dir))
        triton = TritonServer(
            repository,
            root / "triton",
            http_port=ports.triton_http,
            grpc_port=ports.triton_grpc,
            metrics_port=ports.triton_metrics,
            model_name=MODEL_NAME,
            log_dir=self.log_dir,
        )
        self._launch(triton)
        env = {
            **service_env(redis.url, mongo.url, s3.endpoint, triton.grpc_url),
            **LOCAL_DEVELOPMENT,
        }
        self._launch(
            gateway_process(ports.gateway, env, self.log_dir, internal_port=ports.gateway_internal)
        )
        worker = worker_process(
            env,
            self.log_dir,
            concurrency=config.worker_concurrency,
            metrics_port=ports.worker_metrics,
            queues=JOB_QUEUES,
        )
        self._launch(worker)
        webhooks_worker = worker_process(
            env,
            self.log_dir,
            name="worker-webhooks",
            concurrency=config.webhook_worker_concurrency,
            metrics_port=ports.webhook_worker_metrics,
            queues=(Queue.WEBHOOKS,),
        )
        self._launch(webhooks_worker)
        self._launch(beat_process(env, self.log_dir, root / "beat" / "schedule"))

    def stop(self) -> None:
        while self.servers:
            server = self.servers.pop()
            log.info("stopping %s", server.name)
            server.stop()

    def first_dead(self) -> ManagedProcess | None:
        return next((server for server in self.servers if not server.running), None)

    def _launch(self, server: Server) -> Server:
        # Recorded before it starts, so an interrupt mid-start still stops it.
        self.servers.append(server)
        started = time.monotonic()
        server.start()
        server.wait_ready()
        log.info("%s ready in %.1fs", server.name, time.monotonic() - started)
        return server
