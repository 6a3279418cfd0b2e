"""`GET /v1/jobs/{id}/image`: the bytes the job was judged on, for a reviewer's screen."""

import anyio.to_thread
from fastapi import APIRouter, Response
from minio.error import S3Error
from urllib3.exceptions import HTTPError as Urllib3Error

from gateway.api.deps import ClientsDep
from gateway.auth import ReadAccess
from gateway.errors import ApiError
from gateway.schemas import ErrorOut
from storage.errors import ErrorCode, PermanentError

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp"}


@router.get(
    "/{job_id}/image",
    response_class=Response,
    responses={
        200: {
            "content": {media: {} for media in sorted(_IMAGE_TYPES)},
            "description": "The stored image, as judged (before any rotation or resizing).",
        },
        404: {"model": ErrorOut},
        409: {"model": ErrorOut},
        503: {"model": ErrorOut},
    },
    summary="The image the job was judged on",
)
async def get_job_image(job_id: str, clients: ClientsDep, principal: ReadAccess) -> Response:
    job = await clients.jobs.get(job_id) if len(job_id) <= 64 else None
    # Another tenant's job answers exactly like one that does not exist.
    if job is None or job.tenant_id != principal.tenant_id:
        raise ApiError(404, ErrorCode.JOB_NOT_FOUND, f"no job with id {job_id!r}")
    if job.image is None:
        # The job exists; its image does not yet (a URL job not fetched), or never will.
        raise ApiError(409, ErrorCode.IMAGE_NOT_STORED, "the job holds no stored image (yet)")
    try:
        content = await anyio.to_thread.run_sync(clients.objects.get_image, job.image)
    except PermanentError as error:  # deleted by retention
        raise ApiError(404, ErrorCode.IMAGE_MISSING, error.message) from error
    except (S3Error, Urllib3Error, OSError) as error:
        raise ApiError(
            503, ErrorCode.SERVICE_UNAVAILABLE, "the object store is unavailable; try again"
        ) from error
    media_type = job.image.content_type
    headers = {
        # The bytes are stored under their SHA-256: they never change.
        "ETag": f'"{job.image.sha256}"',
        "Cache-Control": "private, max-age=86400, immutable",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": "inline",
    }
    if media_type not in _IMAGE_TYPES:
        media_type = "application/octet-stream"
    return Response(content, media_type=media_type, headers=headers)
