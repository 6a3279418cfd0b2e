"""Answering `GET /v1/jobs/{id}`: at once, or once the job ends (`wait`), with an ETag so
a client that already has the current state gets `304 Not Modified`."""

import asyncio
import contextlib
import hashlib
import time

from fastapi import Response

from gateway.errors import ApiError
from gateway.job_ends import JobEndWatcher
from gateway.schemas import JobOut
from storage.errors import ErrorCode
from storage.job_repository import JobRepository


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, tag: str) -> bool:
    if if_none_match is None:
        return False
    tags = {part.strip().removeprefix("W/") for part in if_none_match.split(",")}
    return tag in tags or "*" in tags


async def job_answer(
    jobs: JobRepository,
    watcher: JobEndWatcher,
    job_id: str,
    tenant_id: str,
    *,
    wait_s: float,
    recheck_s: float,
    if_none_match: str | None,
) -> Response:
    """The job as JSON, after waiting up to `wait_s` while it is unfinished and unchanged
    from the client's ETag; `304` if the client's ETag is still current."""
    deadline = time.monotonic() + wait_s
    while True:
        # Only a request that may wait listens for the job's end.
        watching = watcher.watching(job_id) if wait_s > 0 else contextlib.nullcontext(None)
        with watching as ended:
            job = await jobs.get(job_id) if len(job_id) <= 64 else None
            # Another tenant's job answers exactly like one that does not exist.
            if job is None or job.tenant_id != tenant_id:
                raise ApiError(404, ErrorCode.JOB_NOT_FOUND, f"no job with id {job_id!r}")
            body = JobOut.from_job(job).model_dump_json().encode()
            tag = etag(body)
            unchanged = if_none_match is None or _matches(if_none_match, tag)
            remaining = deadline - time.monotonic()
            if job.status.terminal or not unchanged or remaining <= 0 or ended is None:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended, min(remaining, recheck_s))
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if _matches(if_none_match, tag):
        return Response(status_code=304, headers=headers)
    return Response(body, headers=headers, media_type="application/json")
