"""The production servers in containers, started through testcontainers, with the interface
the tests use from devstack's stand-ins (`url`, `endpoint`, `port`; start, wait_ready, stop,
kill) plus pause and unpause.

Each binds fixed host ports, chosen free on 127.0.0.1 when the object is made: Docker gives a
dynamically published port a new number when a stopped container starts again, and the
gateway and workers keep the address they were started with. The engine must therefore run
on this machine (Docker Engine, Docker Desktop, rootless Docker).
"""

from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote_plus

import redis
import redis.exceptions
from testcontainers.community.minio import MinioContainer
from testcontainers.community.mongodb import MongoDbContainer
from testcontainers.community.redis import RedisContainer
from testcontainers.core.container import DockerContainer
from testcontainers.core.exceptions import ContainerStartException

from devstack.process import HOST, ServerError, free_port, http_status
from devstack.servers import mongo_answers
from storage.settings import ObjectStoreSettings
from tests.servers.control import ContainerControl, DockerObject

# The images compose.yaml runs in production (a unit test keeps the two in step).
MONGO_IMAGE = "mongo:7.0.14"
REDIS_IMAGE = "redis:7.2.7-alpine"
MINIO_IMAGE = "minio/minio:RELEASE.2024-10-13T13-34-11Z"


class ContainerServer(ABC):
    """One container: made and started by testcontainers on the first `start()`, then
    stopped, killed, paused and started again through `control`, removed on exit."""

    ready_timeout_s = 120.0
    # `docker stop`'s grace before SIGKILL, as ManagedProcess.stop_timeout_s.
    stop_timeout_s = 15

    def __init__(self, name: str, *, log_dir: Path | None = None) -> None:
        self.name = name
        self.log_path = None if log_dir is None else log_dir / f"{name}.log"
        self._container: DockerContainer | None = None

    @abstractmethod
    def build(self) -> DockerContainer:
        """The configured testcontainers object, not started yet."""

    @abstractmethod
    def is_ready(self) -> bool:
        """Whether the server answers now; must not raise."""

    @property
    def started(self) -> bool:
        """Whether testcontainers has made the container (it may be stopped since)."""
        return self._container is not None

    def wrapped(self) -> DockerObject:
        """docker-py's container object, which every fault operation goes through."""
        if self._container is None:
            raise ServerError(f"{self.name} was not started")
        wrapped: DockerObject = self._container.get_wrapped_container()
        return wrapped

    @property
    def control(self) -> ContainerControl:
        return ContainerControl(
            self.name,
            self.wrapped(),
            self.is_ready,
            ready_timeout_s=self.ready_timeout_s,
            stop_timeout_s=self.stop_timeout_s,
        )

    def start(self) -> None:
        if not self.started:
            # Kept before it starts, so `remove()` cleans up a start that fails half way.
            self._container = self.build()
            # Pulls the image if missing, creates and starts the container, then runs the
            # image's wait strategy (if testcontainers has one for it).
            self._container.start()
        else:
            self.control.start()

    def wait_ready(self, timeout_s: float | None = None) -> None:
        self.control.wait_ready(timeout_s)

    def stop(self) -> None:
        self.control.stop()

    def kill(self) -> None:
        self.control.kill()

    def pause(self) -> None:
        self.control.pause()

    def unpause(self) -> None:
        self.control.unpause()

    def remove(self) -> None:
        """Keep the container's log next to the stand-ins' logs, then remove it and its
        anonymous volumes (testcontainers' `stop()`)."""
        container, self._container = self._container, None
        if container is None:
            return
        try:
            self._save_log(container)
        finally:
            container.stop()

    def _save_log(self, container: DockerContainer) -> None:
        if self.log_path is None:
            return
        try:
            stdout, stderr = container.get_logs()
        except ContainerStartException:
            return  # never created (the engine refused it): no log, and the error says why
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_bytes(stdout + stderr)

    def __enter__(self) -> Self:
        try:
            self.start()
            self.wait_ready()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()


class RedisContainerServer(ContainerServer):
    """Redis as compose runs it; `persistent`: an append-only file fsynced every write, which
    `docker stop` and `docker start` keep (the container's /data volume)."""

    def __init__(self, *, log_dir: Path | None = None, persistent: bool = False) -> None:
        super().__init__("redis", log_dir=log_dir)
        self.port = free_port()
        self.persistent = persistent

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def build(self) -> DockerContainer:
        append = ["yes", "--appendfsync", "always"] if self.persistent else ["no"]
        return (
            RedisContainer(REDIS_IMAGE)
            .with_bind_ports(6379, self.port)
            .with_command(["redis-server", "--save", "", "--appendonly", *append])
        )

    def is_ready(self) -> bool:
        client = redis.Redis(host=HOST, port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.exceptions.RedisError:
            return False
        finally:
            client.close()


class MongoContainerServer(ContainerServer):
    """MongoDB (`mongod`, standalone) with a root user, as compose runs it."""

    username = "deepfake"
    password = "deepfake-tests"  # a throwaway container's

    def __init__(self, *, log_dir: Path | None = None) -> None:
        super().__init__("mongo", log_dir=log_dir)
        self.port = free_port()

    @property
    def url(self) -> str:
        credentials = f"{quote_plus(self.username)}:{quote_plus(self.password)}"
        return f"mongodb://{credentials}@{HOST}:{self.port}/?authSource=admin"

    def build(self) -> DockerContainer:
        container = MongoDbContainer(MONGO_IMAGE, username=self.username, password=self.password)
        return container.with_bind_ports(27017, self.port)

    def is_ready(self) -> bool:
        # The image's entrypoint runs a mongod on the container's loopback to create the
        # user, then the real one: only the second answers here.
        return mongo_answers(self.url)


class MinioContainerServer(ContainerServer):
    """MinIO with the credentials the services' settings default to, so the environment the
    fixtures hand them needs only the endpoint (the services create their bucket)."""

    def __init__(self, *, log_dir: Path | None = None) -> None:
        super().__init__("s3", log_dir=log_dir)
        self.port = free_port()
        defaults = ObjectStoreSettings()
        self.access_key = defaults.access_key.get_secret_value()
        self.secret_key = defaults.secret_key.get_secret_value()

    @property
    def endpoint(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def build(self) -> DockerContainer:
        container = MinioContainer(
            MINIO_IMAGE, access_key=self.access_key, secret_key=self.secret_key
        )
        # testcontainers sets MINIO_ACCESS_KEY/MINIO_SECRET_KEY, which MinIO has deprecated
        # for these two.
        container.with_env("MINIO_ROOT_USER", self.access_key)
        container.with_env("MINIO_ROOT_PASSWORD", self.secret_key)
        return container.with_bind_ports(9000, self.port)

    def is_ready(self) -> bool:
        return http_status(self.port, "/minio/health/live") == 200
