"""The internal port: `/healthz`, `/readyz` and `/metrics` for probes and Prometheus, on
an address the public never reaches (`GATEWAY_INTERNAL__HOST`, `__PORT`).

A second uvicorn server in the gateway's own process and event loop, started and stopped
by the public app's lifespan; it shares the public app's clients, readiness and metrics.
"""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from fastapi import FastAPI

from gateway.api.routes import health, metrics
from gateway.errors import install_error_handlers
from gateway.settings import InternalSettings


class _InternalServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The public server owns SIGINT/SIGTERM; its lifespan stops this one.
        yield


def internal_app(public: FastAPI) -> FastAPI:
    app = FastAPI(title="Deepfake detection service: internal", openapi_url=None)
    install_error_handlers(app)
    app.state.clients = public.state.clients
    app.state.readiness = public.state.readiness
    app.state.metrics = public.state.metrics
    app.include_router(health.router)
    app.include_router(metrics.router)
    return app


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def serving_internal(public: FastAPI, settings: InternalSettings) -> AsyncIterator[None]:
    """Serve the internal app while the block runs; nothing when the port is 0."""
    if settings.port == 0:
        yield
        return
    # Bound here: a port in use fails the gateway's start with the OSError, at once.
    sock = _bind(settings.host, settings.port)
    config = uvicorn.Config(
        internal_app(public), lifespan="off", access_log=False, log_level="warning"
    )
    server = _InternalServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield
    finally:
        server.should_exit = True
        await task
        sock.close()
