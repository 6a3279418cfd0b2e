"""Sending calls with retries: shared settings, and the synchronous sender."""

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx

from deepfake_client.calls import Call, build_request
from deepfake_client.errors import TransportError, api_error
from deepfake_client.retry import RetryPolicy
from deepfake_client.version import __version__

T = TypeVar("T")

DEFAULT_API = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT_S = 30.0


def client_options(
    base_url: str | None,
    api_key: str | None,
    timeout_s: float,
    headers: dict[str, str] | None,
) -> dict[str, Any]:
    """httpx client options: `base_url` else `DEEPFAKE_API`; `api_key` else
    `DEEPFAKE_API_KEY`, sent as a bearer token."""
    merged = {"User-Agent": f"deepfake-client/{__version__}", **(headers or {})}
    api_key = api_key or os.environ.get("DEEPFAKE_API_KEY")
    if api_key:
        merged["Authorization"] = f"Bearer {api_key}"
    return {
        "base_url": base_url or os.environ.get("DEEPFAKE_API") or DEFAULT_API,
        "timeout": timeout_s,
        "headers": merged,
    }


def unreachable(call: Call[Any], error: httpx.TransportError) -> TransportError:
    return TransportError(f"{call.method} {call.path}: {type(error).__name__}: {error}")


def partial_path(path: Path) -> Path:
    """Where a download is written until it is whole: a failed one leaves no `path`."""
    return path.with_name(f"{path.name}.part")


class SyncTransport:
    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        options = client_options(base_url, api_key, timeout_s, headers)
        self._http = httpx.Client(**options, transport=transport)
        self.retries = retries or RetryPolicy()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call[T]) -> T:
        """The parsed answer, after the retries `self.retries` allows; raises `ApiError`
        (a subclass per family) or `TransportError`."""
        retrying = self.retries.start(resendable=call.resendable)
        while True:
            try:
                with ExitStack() as files:
                    response = self._http.send(build_request(self._http, call, files))
            except httpx.TransportError as error:
                delay = retrying.after_error(error)
                if delay is None:
                    raise unreachable(call, error) from error
            else:
                delay = retrying.after_response(response)
                if delay is None:
                    return call.parse(response)
            time.sleep(delay)

    @contextmanager
    def opened(self, call: Call[Any]) -> Iterator[httpx.Response]:
        """The successful answer, its body not yet read (retried only before the first
        byte); raises `ApiError` or `TransportError` as `send` does."""
        retrying = self.retries.start(resendable=call.resendable)
        while True:
            try:
                with ExitStack() as files:
                    request = build_request(self._http, call, files)
                    response = self._http.send(request, stream=True)
            except httpx.TransportError as error:
                delay = retrying.after_error(error)
                if delay is None:
                    raise unreachable(call, error) from error
                time.sleep(delay)
                continue
            try:
                if response.is_success:
                    yield response
                    return
                response.read()
            except httpx.TransportError as error:
                raise unreachable(call, error) from error
            finally:
                response.close()
            delay = retrying.after_response(response)
            if delay is None:
                raise api_error(response)
            time.sleep(delay)

    def stream_lines(self, call: Call[Any]) -> Iterator[str]:
        """The answer's lines as they arrive."""
        with self.opened(call) as response:
            yield from (line for line in response.iter_lines() if line)

    def download(self, call: Call[Any], path: str | Path) -> Path:
        """The answer's body streamed to `path`, a chunk at a time (never held whole)."""
        target = Path(path)
        part = partial_path(target)
        try:
            with self.opened(call) as response, part.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
            part.replace(target)
        finally:
            part.unlink(missing_ok=True)
        return target
