"""The two sets of servers behind one interface: the session fixtures and the fault stacks
ask `servers_for(kind)` for each server and use only what the protocols below name."""

from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from devstack.process import ManagedProcess
from devstack.servers import MongoServer, RedisServer, S3Server, TritonServer
from devstack.stack import prepare_model_repository
from model_repository.local import MODEL_NAME
from tests.servers.containers import (
    ContainerServer,
    MinioContainerServer,
    MongoContainerServer,
    RedisContainerServer,
)
from tests.servers.control import ProcessControl, ServerControl
from tests.servers.selection import ServerKind, gpu_visible
from tests.servers.triton import TritonContainerServer, served_repository


class Server(Protocol):
    """What both kinds share: devstack's lifecycle, and a context manager that starts the
    server, waits until it answers, and takes it down."""

    name: str

    def start(self) -> None: ...
    def wait_ready(self, timeout_s: float | None = None) -> None: ...
    def stop(self) -> None: ...
    def kill(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class RedisEndpoint(Server, Protocol):
    @property
    def url(self) -> str: ...


class MongoEndpoint(Server, Protocol):
    @property
    def url(self) -> str: ...


class S3Endpoint(Server, Protocol):
    port: int

    @property
    def endpoint(self) -> str: ...
    @property
    def url(self) -> str: ...


class TritonEndpoint(Server, Protocol):
    @property
    def grpc_url(self) -> str: ...
    @property
    def http_url(self) -> str: ...
    @property
    def metrics_url(self) -> str: ...


class Servers(Protocol):
    kind: ServerKind

    def redis(
        self, data_dir: Path, *, log_dir: Path | None = None, persistent: bool = False
    ) -> RedisEndpoint: ...
    def mongo(self, data_dir: Path, *, log_dir: Path | None = None) -> MongoEndpoint: ...
    def s3(self, data_dir: Path, *, log_dir: Path | None = None) -> S3Endpoint: ...
    def model_repository(self, root: Path, weights_dir: Path) -> Path:
        """The repository Triton serves, built under `root` from the models in `root/models`
        and the MesoNet weights in `weights_dir`."""
        ...

    def triton(
        self, repository: Path, data_dir: Path, *, log_dir: Path | None = None
    ) -> TritonEndpoint: ...


class LocalServers:
    """devstack's stand-ins, exactly as the fixtures started them before there was a choice."""

    kind = ServerKind.LOCAL

    def redis(
        self, data_dir: Path, *, log_dir: Path | None = None, persistent: bool = False
    ) -> RedisServer:
        return RedisServer(data_dir, log_dir=log_dir, persistent=persistent)

    def mongo(self, data_dir: Path, *, log_dir: Path | None = None) -> MongoServer:
        return MongoServer(data_dir, log_dir=log_dir)

    def s3(self, data_dir: Path, *, log_dir: Path | None = None) -> S3Server:
        return S3Server(data_dir, log_dir=log_dir)

    def model_repository(self, root: Path, weights_dir: Path) -> Path:
        return prepare_model_repository(root, weights_dir)

    def triton(
        self, repository: Path, data_dir: Path, *, log_dir: Path | None = None
    ) -> TritonServer:
        return TritonServer(repository, data_dir, model_name=MODEL_NAME, log_dir=log_dir)


class ContainerServers:
    """The production images; Triton on every GPU when one is visible, else on CPU."""

    kind = ServerKind.CONTAINERS

    def __init__(self, *, gpu: bool) -> None:
        self.gpu = gpu

    def redis(
        self, data_dir: Path, *, log_dir: Path | None = None, persistent: bool = False
    ) -> RedisContainerServer:
        return RedisContainerServer(log_dir=log_dir or data_dir, persistent=persistent)

    def mongo(self, data_dir: Path, *, log_dir: Path | None = None) -> MongoContainerServer:
        return MongoContainerServer(log_dir=log_dir or data_dir)

    def s3(self, data_dir: Path, *, log_dir: Path | None = None) -> MinioContainerServer:
        return MinioContainerServer(log_dir=log_dir or data_dir)

    def model_repository(self, root: Path, weights_dir: Path) -> Path:
        return served_repository(root, weights_dir, device="gpu" if self.gpu else "cpu")

    def triton(
        self, repository: Path, data_dir: Path, *, log_dir: Path | None = None
    ) -> TritonContainerServer:
        return TritonContainerServer(repository, gpu=self.gpu, log_dir=log_dir or data_dir)


def servers_for(kind: ServerKind) -> Servers:
    if kind is ServerKind.CONTAINERS:
        return ContainerServers(gpu=gpu_visible())
    return LocalServers()


def server_control(server: Server) -> ServerControl:
    """The fault operations for `server`, whichever kind it is."""
    if isinstance(server, ContainerServer):
        return server.control
    if isinstance(server, ManagedProcess):
        return ProcessControl(server)
    raise TypeError(f"no fault operations for {type(server).__name__}")


def discard(server: Server) -> None:
    """Take down a server whose data nobody needs: a stand-in is killed, a container removed."""
    if isinstance(server, ContainerServer):
        server.remove()
    else:
        server.kill()
