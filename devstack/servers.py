"""Real local servers as subprocesses, for `python -m devstack up` and the test fixtures.

Each binds 127.0.0.1 only and picks free ports unless given some. All are context managers:
entering starts the server and waits until it answers, leaving stops it.
"""

import importlib.metadata
import importlib.util
import os
import secrets
import shutil
import sys
import sysconfig
from pathlib import Path

import pymongo
import pymongo.errors
import redis
import redis.exceptions

from devstack.process import (
    HOST,
    ManagedProcess,
    ServerError,
    ServiceProcess,
    compute_tier,
    free_port,
    http_ready,
    http_status,
    log_line_ready,
    venv_executable,
    wait_until,
)

__all__ = [
    "HOST",
    "ManagedProcess",
    "MongoServer",
    "RedisServer",
    "S3Server",
    "ServerError",
    "ServiceProcess",
    "TritonServer",
    "compute_tier",
    "free_port",
    "http_ready",
    "http_status",
    "log_line_ready",
    "venv_executable",
    "wait_until",
]


class RedisServer(ManagedProcess):
    """Debian's `redis-server`; no persistence unless `persistent` (an append-only file in
    `data_dir`, fsynced every write, so a restart keeps every queued message)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        log_dir: Path | None = None,
        persistent: bool = False,
    ) -> None:
        super().__init__("redis", log_path=(log_dir or data_dir) / "redis.log")
        self.data_dir = data_dir
        self.port = port or free_port()
        self.persistent = persistent

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        executable = shutil.which("redis-server")
        if executable is None:
            raise ServerError("redis-server not found on PATH (Debian: apt-get install redis)")
        return [
            executable,
            *("--port", str(self.port), "--bind", HOST),
            *("--save", "", "--dir", str(self.data_dir)),
            *(
                ("--appendonly", "yes", "--appendfsync", "always")
                if self.persistent
                else ("--appendonly", "no")
            ),
        ]

    def is_ready(self) -> bool:
        client = redis.Redis(host=HOST, port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.exceptions.RedisError:
            return False
        finally:
            client.close()


def mongo_answers(url: str) -> bool:
    """Whether a MongoDB-protocol server at `url` answers a ping within half a second."""
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        url, serverSelectionTimeoutMS=500, connectTimeoutMS=500
    )
    try:
        client.admin.command("ping")
        return True
    except pymongo.errors.PyMongoError:
        return False
    finally:
        client.close()


class TritonAddresses:
    """Where a Triton server answers, from its three ports (a process or a container)."""

    http_port: int
    grpc_port: int
    metrics_port: int

    @property
    def grpc_url(self) -> str:
        return f"{HOST}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{HOST}:{self.metrics_port}/metrics"


class MongoServer(ManagedProcess):
    """The SecantusDB daemon, speaking the MongoDB wire protocol.

    It advertises itself as the primary of a one-node replica set named after the host and
    port it binds, so pymongo connects with neither `replicaSet` nor `directConnection`.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        in_memory: bool = False,
        log_dir: Path | None = None,
    ) -> None:
        super().__init__("mongo", log_path=(log_dir or data_dir) / "mongo.log")
        self.data_dir = data_dir
        self.port = port or free_port()
        self.in_memory = in_memory

    @property
    def url(self) -> str:
        # Retryable writes make SecantusDB much slower and nothing here needs them.
        return f"mongodb://{HOST}:{self.port}/?retryWrites=false"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        storage = ":memory:" if self.in_memory else str(self.data_dir)
        return [
            venv_executable("secantusd-py"),
            *("--host", HOST, "--port", str(self.port), "--storage-path", storage),
        ]

    def is_ready(self) -> bool:
        return mongo_answers(self.url)


class S3Server(ManagedProcess):
    """moto's S3-compatible server, in memory (minio clients need region="us-east-1")."""

    def __init__(self, data_dir: Path, *, port: int | None = None, log_dir: Path | None = None):
        super().__init__("s3", log_path=(log_dir or data_dir) / "s3.log")
        self.port = port or free_port()

    @property
    def endpoint(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def command(self) -> list[str]:
        return [venv_executable("moto_server"), "-H", HOST, "-p", str(self.port)]

    def is_ready(self) -> bool:
        return http_status(self.port, "/") is not None


class TritonServer(TritonAddresses, ManagedProcess):
    """The `tritonserver` binary from the nvidia-pytriton wheel, serving `model_repository`.

    The wheel ships only the Python backend, without the stub that backend launches per
    model instance: `prepare()` copies the backends into `data_dir` and adds the stub built
    for the running Python, leaving site-packages untouched. Ports stay fixed for the
    object's life, so a killed server restarts where its clients expect it.
    """

    ready_timeout_s = 180.0

    def __init__(
        self,
        model_repository: Path,
        data_dir: Path,
        *,
        http_port: int | None = None,
        grpc_port: int | None = None,
        metrics_port: int | None = None,
        model_name: str | None = None,
        log_dir: Path | None = None,
    ) -> None:
        super().__init__("triton", log_path=(log_dir or data_dir) / "triton.log", env=_triton_env())
        self.model_repository = model_repository
        self.data_dir = data_dir
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.metrics_port = metrics_port or free_port()
        self._ports_given = any((http_port, grpc_port, metrics_port))
        self.model_name = model_name
        # Names the Python backend's shared-memory regions, so a killed server's can go.
        self.shm_prefix = f"devstack-triton-{secrets.token_hex(4)}-"

    def repick_ports(self) -> bool:
        if self._ports_given:
            return False
        self.http_port, self.grpc_port, self.metrics_port = (free_port() for _ in range(3))
        return True

    @property
    def backend_dir(self) -> Path:
        return self.data_dir / "backends"

    def prepare(self) -> None:
        numpy_version = importlib.metadata.version("numpy")
        if int(numpy_version.split(".")[0]) >= 2:
            raise ServerError(f"Triton's Python backend stub needs numpy<2, found {numpy_version}")
        dist = _pytriton_dir() / "tritonserver"
        stub = dist / "python_backend_stubs" / f"{sys.version_info[0]}.{sys.version_info[1]}"
        stub /= "triton_python_backend_stub"
        if not stub.is_file():
            raise ServerError(f"no Triton Python backend stub for this Python at {stub}")
        for source in (dist / "backends").rglob("*"):
            if source.is_file() and "__pycache__" not in source.parts:
                relative = source.relative_to(dist / "backends")
                _install(source, self.backend_dir / relative)
        _install(stub, self.backend_dir / "python" / stub.name)

    def command(self) -> list[str]:
        return compute_tier(
            [
                str(_pytriton_dir() / "tritonserver" / "bin" / "tritonserver"),
                f"--model-repository={self.model_repository}",
                f"--backend-directory={self.backend_dir}",
                f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
                *(f"--http-address={HOST}", f"--http-port={self.http_port}"),
                *(f"--grpc-address={HOST}", f"--grpc-port={self.grpc_port}"),
                *(f"--metrics-address={HOST}", f"--metrics-port={self.metrics_port}"),
                # Explicit control (every model loaded at start) lets a failing model be reloaded.
                "--model-control-mode=explicit",
                "--load-model=*",
                "--allow-gpu-metrics=false",
                "--log-verbose=0",
                "--exit-on-error=true",
            ]
        )

    def is_ready(self) -> bool:
        if http_status(self.http_port, "/v2/health/ready") != 200:
            return False
        return (
            self.model_name is None
            or http_status(self.http_port, f"/v2/models/{self.model_name}/ready") == 200
        )

    def cleanup(self) -> None:
        for region in Path("/dev/shm").glob(f"{self.shm_prefix}*"):  # noqa: S108
            region.unlink(missing_ok=True)


def _install(source: Path, target: Path) -> None:
    """Copy unless already there; never rewrite in place a library a server may have mapped."""
    if target.is_file():
        stat, target_stat = source.stat(), target.stat()
        if (stat.st_size, stat.st_mtime_ns) == (target_stat.st_size, target_stat.st_mtime_ns):
            return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copy2(source, partial)
    partial.replace(target)


def _pytriton_dir() -> Path:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise ServerError("nvidia-pytriton is not installed in this environment")
    return Path(next(iter(spec.submodule_search_locations)))


def _triton_env() -> dict[str, str]:
    """PATH and LD_LIBRARY_PATH that let the Python backend stub run this environment."""
    # The stub runs the first `python` on PATH's environment (site-packages, numpy), and
    # links the wheel's bundled libraries and the libpython this interpreter was built with
    # (a copied stub loses its RPATH; the system's libpython may be another 3.x build).
    libraries = [str(_pytriton_dir().parent / "nvidia_pytriton.libs")]
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir:
        libraries.append(str(libdir))
    if os.environ.get("LD_LIBRARY_PATH"):
        libraries.append(os.environ["LD_LIBRARY_PATH"])
    return {
        "PATH": os.pathsep.join([str(Path(sys.exec_prefix) / "bin"), os.environ.get("PATH", "")]),
        "LD_LIBRARY_PATH": os.pathsep.join(libraries),
    }
