"""Creating jobs: record first, then enqueue the job's ID (never a payload)."""

import json
import logging
from typing import Any

import anyio.to_thread
from celery import Celery

from gateway.errors import ApiError
from gateway.settings import Settings
from storage.errors import ErrorCode
from storage.imageformat import sniff_format
from storage.jobs import TASK_QUEUES, Job, JobError, SourceKind, TaskName
from storage.netguard import validate_url
from storage.objects import ObjectStore
from storage.repository import JobRepository

logger = logging.getLogger(__name__)


def check_metadata(metadata: dict[str, Any], settings: Settings) -> None:
    size = len(json.dumps(metadata, separators=(",", ":"), default=str))
    if size > settings.max_metadata_bytes:
        raise ApiError(
            422,
            ErrorCode.INVALID_REQUEST,
            f"metadata is {size} bytes as JSON; at most {settings.max_metadata_bytes} allowed",
        )


async def _enqueue(celery: Celery, jobs: JobRepository, job: Job, task: TaskName) -> None:
    try:
        await anyio.to_thread.run_sync(
            lambda: celery.send_task(task.value, args=[job.id], queue=TASK_QUEUES[task].value)
        )
    except Exception as error:
        # The job is recorded but nobody will run it: close it rather than leave it queued.
        logger.exception("enqueue failed for job %s", job.id)
        message = "the job queue is unavailable; submit again later"
        await jobs.fail(job.id, JobError(code=ErrorCode.SERVICE_UNAVAILABLE, message=message))
        raise ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, message) from error


async def submit_url(
    image_url: str,
    metadata: dict[str, Any],
    *,
    settings: Settings,
    jobs: JobRepository,
    celery: Celery,
) -> Job:
    validate_url(image_url, max_length=settings.max_url_length)
    check_metadata(metadata, settings)
    job = Job(source=SourceKind.URL, image_url=image_url, metadata=metadata)
    await jobs.insert(job)
    await _enqueue(celery, jobs, job, TaskName.FETCH_IMAGE)
    return job


async def submit_upload(
    content: bytes,
    metadata: dict[str, Any],
    *,
    settings: Settings,
    jobs: JobRepository,
    objects: ObjectStore,
    celery: Celery,
) -> Job:
    if len(content) > settings.max_upload_bytes:
        raise ApiError(
            413,
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"the file exceeds {settings.max_upload_bytes} bytes",
        )
    detected = sniff_format(content[:16])
    if detected is None:
        raise ApiError(
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "the file is not a JPEG, PNG, GIF, WebP or BMP image",
        )
    check_metadata(metadata, settings)
    image = await anyio.to_thread.run_sync(objects.put_image, content, detected.media_type)
    job = Job(source=SourceKind.UPLOAD, image=image, metadata=metadata)
    await jobs.insert(job)
    await _enqueue(celery, jobs, job, TaskName.RUN_INFERENCE)
    return job
