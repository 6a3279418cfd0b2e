"""`GET /v1/jobs/{id}/image`: the bytes the job was judged on, for a reviewer's screen, or
one face of it (`?face=N`)."""

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Response
from minio.error import S3Error
from PIL import Image
from urllib3.exceptions import HTTPError as Urllib3Error

from gateway.api.deps import ClientsDep, owned_job
from gateway.auth import ReadAccess
from gateway.errors import ApiError
from gateway.face_crops import crop_face
from gateway.schemas import ErrorOut
from storage.errors import ErrorCode, PermanentError

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp"}
# Only images a worker decoded are cut (they passed its pixel limit); this is a backstop.
_MAX_PIXELS = 100_000_000


@router.get(
    "/{job_id}/image",
    response_class=Response,
    responses={
        200: {
            "content": {media: {} for media in sorted(_IMAGE_TYPES)},
            "description": "The stored image, as judged (before any rotation or resizing); "
            "with `face`, a PNG of that face, upright, with a margin, at most 512 px a side.",
        },
        404: {"model": ErrorOut},
        409: {"model": ErrorOut},
        422: {"model": ErrorOut},
        503: {"model": ErrorOut},
    },
    summary="The image the job was judged on, or one of its faces",
)
async def get_job_image(
    job_id: str,
    clients: ClientsDep,
    principal: ReadAccess,
    face: Annotated[
        int | None, Query(ge=0, le=1000, description="A face's index in the job's result.")
    ] = None,
) -> Response:
    job = await owned_job(clients.jobs, job_id, principal.tenant_id)
    if job.image is None:
        # The job exists; its image does not yet (a URL job not fetched), or never will.
        raise ApiError(409, ErrorCode.IMAGE_NOT_STORED, "the job holds no stored image (yet)")
    faces = [] if job.result is None else job.result.faces
    if face is not None and face >= len(faces):
        raise ApiError(422, ErrorCode.INVALID_REQUEST, f"the job's result has {len(faces)} face(s)")
    try:
        content = await anyio.to_thread.run_sync(clients.objects.get_image, job.image)
    except PermanentError as error:  # deleted by retention
        raise ApiError(404, ErrorCode.IMAGE_MISSING, error.message) from error
    except (S3Error, Urllib3Error, OSError) as error:
        raise ApiError(
            503, ErrorCode.SERVICE_UNAVAILABLE, "the object store is unavailable; try again"
        ) from error
    media_type = job.image.content_type
    etag = job.image.sha256
    if face is not None:
        assert job.result is not None
        frame = job.result.image_size
        box = faces[face].box
        try:
            content = await anyio.to_thread.run_sync(crop_face, content, box, frame, _MAX_PIXELS)
        except (OSError, ValueError, Image.DecompressionBombError, Warning) as error:
            # Judged by a worker, so decodable there: only a bound set differently here.
            raise ApiError(
                422, ErrorCode.IMAGE_DECODE_FAILED, "the face could not be cut from the image"
            ) from error
        media_type, etag = "image/png", f"{etag}-face{face}-{'-'.join(map(str, box))}"
    headers = {
        # The bytes are stored under their SHA-256: they never change.
        "ETag": f'"{etag}"',
        "Cache-Control": "private, max-age=86400, immutable",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": "inline",
    }
    if media_type not in _IMAGE_TYPES:
        media_type = "application/octet-stream"
    return Response(content, media_type=media_type, headers=headers)
