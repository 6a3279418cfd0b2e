"""Typed clients for the detection API, synchronous and asynchronous, on httpx.

    with DetectionClient("http://127.0.0.1:8080") as client:
        job = client.wait(client.submit_file("face.jpg").id)
        print(job.result.verdict if job.result else job.error)

Both classes share the request building and response parsing below; they differ only in
how they send.
"""

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any, Self

import httpx

from client.models import Job, Model

DEFAULT_TIMEOUT_S = 30.0
# Seconds one read of a job asks the server to hold it while the job runs (long-polling).
LONG_POLL_S = 20.0


class ApiError(Exception):
    """The API answered with an error: its HTTP status and stable error code."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message


def job_options(
    *,
    model: str | None = None,
    model_version: str | None = None,
    mode: str | None = None,
    thresholds: dict[str, float] | None = None,
    metadata: dict[str, Any] | None = None,
    callback_url: str | None = None,
) -> dict[str, Any]:
    """The options a submission carries, without the ones left unset."""
    options = {
        "model": model,
        "model_version": model_version,
        "mode": mode,
        "thresholds": thresholds,
        "metadata": metadata,
        "callback_url": callback_url,
    }
    return {key: value for key, value in options.items() if value is not None}


def _form_fields(options: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in options.items()}


def _idempotency(key: str | None) -> dict[str, str]:
    return {} if key is None else {"Idempotency-Key": key}


def _file_part(file: str | Path | bytes, filename: str | None) -> tuple[str, bytes]:
    if isinstance(file, bytes):
        return filename or "image", file
    path = Path(file)
    return filename or path.name, path.read_bytes()


def _long_poll(wait_s: float, timeout: httpx.Timeout) -> dict[str, Any]:
    """Request options for `GET /v1/jobs/{id}?wait=`: the read may take that much longer."""
    if wait_s <= 0:
        return {}
    held = httpx.Timeout(
        connect=timeout.connect,
        read=None if timeout.read is None else timeout.read + wait_s,
        write=timeout.write,
        pool=timeout.pool,
    )
    return {"params": {"wait": round(wait_s, 3)}, "timeout": held}


def _checked(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json() if response.content else None
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", response.text[:200]
    raise ApiError(response.status_code, code, message)


def _with_key(headers: dict[str, str] | None, api_key: str | None) -> dict[str, str]:
    """`api_key`, else the `DEEPFAKE_API_KEY` environment variable, as a bearer token."""
    merged = dict(headers or {})
    api_key = api_key or os.environ.get("DEEPFAKE_API_KEY")
    if api_key:
        merged["Authorization"] = f"Bearer {api_key}"
    return merged


class DetectionClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout_s,
            headers=_with_key(headers, api_key),
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def submit_url(
        self, image_url: str, *, idempotency_key: str | None = None, **options: Any
    ) -> Job:
        """`idempotency_key`: sending the same call again returns the first job."""
        body = {"image_url": image_url, **job_options(**options)}
        headers = _idempotency(idempotency_key)
        return Job.model_validate(_checked(self._http.post("/v1/jobs", json=body, headers=headers)))

    def submit_file(
        self,
        file: str | Path | bytes,
        *,
        filename: str | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> Job:
        response = self._http.post(
            "/v1/jobs",
            files={"file": _file_part(file, filename)},
            data=_form_fields(job_options(**options)),
            headers=_idempotency(idempotency_key),
        )
        return Job.model_validate(_checked(response))

    def delete_job(self, job_id: str) -> None:
        """Delete the job, its result and its image for good."""
        _checked(self._http.delete(f"/v1/jobs/{job_id}"))

    def get_job(self, job_id: str, *, wait_s: float = 0.0) -> Job:
        """The job; with `wait_s`, the server holds the answer until it ends (or that long)."""
        response = self._http.get(f"/v1/jobs/{job_id}", **_long_poll(wait_s, self._http.timeout))
        return Job.model_validate(_checked(response))

    def wait(self, job_id: str, *, timeout_s: float = 300.0, poll_s: float = 0.25) -> Job:
        """Until the job succeeds or fails, by long-polling (polling every `poll_s` against
        a server that answers at once); TimeoutError after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            hold = min(LONG_POLL_S, max(0.0, deadline - time.monotonic()))
            started = time.monotonic()
            job = self.get_job(job_id, wait_s=hold)
            if job.done:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout_s}s")
            if time.monotonic() - started < hold / 2:
                time.sleep(poll_s)  # the server did not hold the answer

    def list_models(self) -> list[Model]:
        return [Model.model_validate(m) for m in _checked(self._http.get("/v1/models"))]


class AsyncDetectionClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout_s,
            headers=_with_key(headers, api_key),
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def submit_url(
        self, image_url: str, *, idempotency_key: str | None = None, **options: Any
    ) -> Job:
        """`idempotency_key`: sending the same call again returns the first job."""
        body = {"image_url": image_url, **job_options(**options)}
        headers = _idempotency(idempotency_key)
        return Job.model_validate(
            _checked(await self._http.post("/v1/jobs", json=body, headers=headers))
        )

    async def submit_file(
        self,
        file: str | Path | bytes,
        *,
        filename: str | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> Job:
        response = await self._http.post(
            "/v1/jobs",
            files={"file": _file_part(file, filename)},
            data=_form_fields(job_options(**options)),
            headers=_idempotency(idempotency_key),
        )
        return Job.model_validate(_checked(response))

    async def delete_job(self, job_id: str) -> None:
        """Delete the job, its result and its image for good."""
        _checked(await self._http.delete(f"/v1/jobs/{job_id}"))

    async def get_job(self, job_id: str, *, wait_s: float = 0.0) -> Job:
        options = _long_poll(wait_s, self._http.timeout)
        response = await self._http.get(f"/v1/jobs/{job_id}", **options)
        return Job.model_validate(_checked(response))

    async def wait(self, job_id: str, *, timeout_s: float = 300.0, poll_s: float = 0.25) -> Job:
        deadline = time.monotonic() + timeout_s
        while True:
            hold = min(LONG_POLL_S, max(0.0, deadline - time.monotonic()))
            started = time.monotonic()
            job = await self.get_job(job_id, wait_s=hold)
            if job.done:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout_s}s")
            if time.monotonic() - started < hold / 2:
                await asyncio.sleep(poll_s)  # the server did not hold the answer

    async def list_models(self) -> list[Model]:
        response = await self._http.get("/v1/models")
        return [Model.model_validate(m) for m in _checked(response)]
