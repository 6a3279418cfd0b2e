"""The asynchronous sender: the same calls and retries as `transport.SyncTransport`."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx

from deepfake_client.calls import Call, build_request
from deepfake_client.errors import api_error
from deepfake_client.retry import RetryPolicy
from deepfake_client.transport import (
    DEFAULT_TIMEOUT_S,
    client_options,
    partial_path,
    unreachable,
)

T = TypeVar("T")


class AsyncTransport:
    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        options = client_options(base_url, api_key, timeout_s, headers)
        self._http = httpx.AsyncClient(**options, transport=transport)
        self.retries = retries or RetryPolicy()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        retrying = self.retries.start(resendable=call.resendable)
        while True:
            try:
                with ExitStack() as files:
                    response = await self._http.send(build_request(self._http, call, files))
            except httpx.TransportError as error:
                delay = retrying.after_error(error)
                if delay is None:
                    raise unreachable(call, error) from error
            else:
                delay = retrying.after_response(response)
                if delay is None:
                    return call.parse(response)
            await asyncio.sleep(delay)

    @asynccontextmanager
    async def opened(self, call: Call[Any]) -> AsyncIterator[httpx.Response]:
        """The successful answer, its body not yet read (retried only before the first
        byte)."""
        retrying = self.retries.start(resendable=call.resendable)
        while True:
            try:
                with ExitStack() as files:
                    request = build_request(self._http, call, files)
                    response = await self._http.send(request, stream=True)
            except httpx.TransportError as error:
                delay = retrying.after_error(error)
                if delay is None:
                    raise unreachable(call, error) from error
                await asyncio.sleep(delay)
                continue
            try:
                if response.is_success:
                    yield response
                    return
                await response.aread()
            except httpx.TransportError as error:
                raise unreachable(call, error) from error
            finally:
                await response.aclose()
            delay = retrying.after_response(response)
            if delay is None:
                raise api_error(response)
            await asyncio.sleep(delay)

    async def stream_lines(self, call: Call[Any]) -> AsyncIterator[str]:
        async with self.opened(call) as response:
            async for line in response.aiter_lines():
                if line:
                    yield line

    async def download(self, call: Call[Any], path: str | Path) -> Path:
        """The answer's body streamed to `path`, a chunk at a time (never held whole); the
        file is written from a thread, so the event loop never waits on the disk."""
        target = Path(path)
        part = partial_path(target)
        try:
            async with self.opened(call) as response:
                out = await asyncio.to_thread(part.open, "wb")
                try:
                    async for chunk in response.aiter_bytes():
                        await asyncio.to_thread(out.write, chunk)
                finally:
                    await asyncio.to_thread(out.close)
            await asyncio.to_thread(part.replace, target)
        finally:
            await asyncio.to_thread(part.unlink, missing_ok=True)
        return target
