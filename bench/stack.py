"""The local stack a benchmark runs against: the devstack servers on free ports.

Built from the same pieces as `make up` (devstack), plus the settings a benchmark needs:
image URLs point at a local HTTP server, so the worker may fetch from loopback.
"""

import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.process import free_port
from devstack.servers import MongoServer, RedisServer, S3Server, TritonServer
from devstack.stack import (
    gateway_process,
    service_env,
    worker_process,
)
from model_repository.local import MODEL_NAME

BENCH_SETTINGS = {
    # As `make up`: local development, no API keys (and so no per-key rate limit).
    "GATEWAY_AUTH__DISABLED": "true",
    "WORKER_FETCH__ALLOW_LOOPBACK": "true",
    # The bulk figure's `batch.completed` event goes to a receiver on 127.0.0.1.
    "WORKER_WEBHOOK__ALLOW_LOOPBACK": "true",
    # Every benchmark image is new, so the reuse lookup never hits; and SecantusDB answers it
    # by scanning every job (its index serves a query on exactly the indexed fields only):
    # ~0.4 s a job at 10,000 jobs, under its global lock. MongoDB answers it from the index.
    "WORKER_REUSE_RESULTS": "false",
    # Shorter than a benchmark run: a lost task shows up as a retry, not as a stall.
    "WORKER_RETRY__BACKOFF_MAX_S": "5",
}


@dataclass(frozen=True)
class RunningStack:
    gateway_url: str
    mongo_url: str | None
    # Every server's process, by name: where the CPU time goes.
    pids: dict[str, int]


def production_model(root: Path) -> Path:
    """The exported ONNX file itself, for ONNX Runtime alone and the naive baseline."""
    found = sorted((root / "models" / MODEL_NAME).glob("[0-9]*/model.onnx"))
    if not found:
        raise FileNotFoundError(f"no exported {MODEL_NAME} under {root / 'models'}")
    return found[-1]


@contextmanager
def local_stack(root: Path, repository: Path, *, worker_concurrency: int) -> Iterator[RunningStack]:
    """Redis, SecantusDB, moto S3, Triton, one gateway (one uvicorn process), one worker.

    Starts empty every time (`root` is wiped): earlier runs' jobs would slow this one down.
    """
    if root.exists():
        shutil.rmtree(root)
    logs = root / "logs"
    with ExitStack() as servers:
        redis = servers.enter_context(RedisServer(root / "redis", log_dir=logs))
        # In memory: twice as fast per operation as on disk. SecantusDB shares the benchmark's
        # cores, where production's MongoDB has its own machine.
        mongo = servers.enter_context(MongoServer(root / "mongo", in_memory=True, log_dir=logs))
        s3 = servers.enter_context(S3Server(root / "s3", log_dir=logs))
        triton = servers.enter_context(
            TritonServer(repository, root / "triton", model_name=MODEL_NAME, log_dir=logs)
        )
        env = service_env(redis.url, mongo.url, s3.endpoint, triton.grpc_url)
        env = {**env, **BENCH_SETTINGS}
        port = free_port()
        gateway = servers.enter_context(gateway_process(port, env, logs))
        worker = servers.enter_context(
            worker_process(env, logs, name="bench", concurrency=worker_concurrency)
        )
        named = {"redis": redis, "mongo": mongo, "s3": s3, "triton": triton}
        named.update({"gateway": gateway, "worker": worker})
        pids = {name: server.pid for name, server in named.items() if server.pid is not None}
        yield RunningStack(f"http://127.0.0.1:{port}", mongo.url, pids)
