"""`/v1/jobs/{id}/explanations`: where the score of each face comes from, as a heat map.

`POST` asks for the occlusion-sensitivity map of every face of a succeeded job (computed by
the worker, one Triton request per face); `GET` reads it; `GET .../{index}.png` is one
face's overlay.
"""

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Request, Response
from minio.error import S3Error
from urllib3.exceptions import HTTPError as Urllib3Error

from gateway.api.deps import ClientsDep
from gateway.auth import ReadAccess, SubmitAccess
from gateway.errors import ApiError
from gateway.explanations import Explainer, ExplanationOut, explanations_path
from gateway.schemas import ErrorOut
from storage.errors import ErrorCode, PermanentError
from storage.explanation_repository import ExplanationRepository, ExplanationStatus
from storage.objects import explanation_key

router = APIRouter(prefix="/v1/jobs", tags=["explanations"])


def get_explainer(request: Request, clients: ClientsDep) -> Explainer:
    explanations: ExplanationRepository = request.app.state.explanations
    return Explainer(clients.jobs, explanations, clients.tasks)


ExplainerDep = Annotated[Explainer, Depends(get_explainer)]


@router.post(
    "/{job_id}/explanations",
    status_code=202,
    response_model=ExplanationOut,
    responses={
        200: {"model": ExplanationOut, "description": "Already asked for: the one there is."},
        202: {"description": "Asked for: `pending` until the worker has computed it."},
        404: {"model": ErrorOut},
        409: {"model": ErrorOut, "description": "`job_not_judged`: no scored face yet."},
        503: {"model": ErrorOut},
    },
    summary="Ask for the occlusion-sensitivity map of each face of a succeeded job",
)
async def create_explanation(
    job_id: str, response: Response, explainer: ExplainerDep, principal: SubmitAccess
) -> ExplanationOut:
    explanation, created = await explainer.request(principal.tenant_id, job_id)
    response.status_code = 202 if created else 200
    response.headers["Location"] = explanations_path(explanation.job_id)
    return ExplanationOut.from_explanation(explanation)


@router.get(
    "/{job_id}/explanations",
    response_model=ExplanationOut,
    responses={404: {"model": ErrorOut}},
    summary="A job's explanation: pending, ready (with one overlay per face) or failed",
)
async def get_explanation(
    job_id: str, explainer: ExplainerDep, principal: ReadAccess
) -> ExplanationOut:
    return ExplanationOut.from_explanation(await explainer.find(principal.tenant_id, job_id))


@router.get(
    "/{job_id}/explanations/{index}.png",
    response_class=Response,
    responses={
        200: {
            "content": {"image/png": {}},
            "description": "The heat map blended over the face crop the model saw.",
        },
        404: {"model": ErrorOut},
        409: {"model": ErrorOut, "description": "`explanation_not_ready`: not computed."},
        503: {"model": ErrorOut},
    },
    summary="One face's overlay of a job's explanation",
)
async def get_explanation_image(
    job_id: str,
    index: Annotated[int, Path(ge=0, le=1000)],
    clients: ClientsDep,
    explainer: ExplainerDep,
    principal: ReadAccess,
) -> Response:
    explanation = await explainer.find(principal.tenant_id, job_id)
    if explanation.status is not ExplanationStatus.READY:
        message = f"the explanation is {explanation.status.value}"
        raise ApiError(409, ErrorCode.EXPLANATION_NOT_READY, message)
    face = next((face for face in explanation.faces if face.index == index), None)
    if face is None:
        raise ApiError(404, ErrorCode.EXPLANATION_NOT_FOUND, f"the explanation has no face {index}")
    key = explanation_key(
        explanation.tenant_id, explanation.job_id, explanation.model_version, index
    )
    try:
        content = await anyio.to_thread.run_sync(clients.objects.get_explanation, key)
    except PermanentError as error:
        raise ApiError(404, ErrorCode.EXPLANATION_NOT_FOUND, error.message) from error
    except (S3Error, Urllib3Error, OSError) as error:
        raise ApiError(
            503, ErrorCode.SERVICE_UNAVAILABLE, "the object store is unavailable; try again"
        ) from error
    headers = {
        # Computed once per job and model version: the bytes never change.
        "ETag": f'"{face.image_sha256}"',
        "Cache-Control": "private, max-age=86400, immutable",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": "inline",
    }
    return Response(content, media_type="image/png", headers=headers)
