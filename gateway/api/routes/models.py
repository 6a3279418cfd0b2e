"""`/v1/models`: the detectors a job may name."""

from fastapi import APIRouter
from tritonclient.utils import InferenceServerException

from gateway.api.deps import ClientsDep
from gateway.auth import ReadAccess
from gateway.errors import ApiError
from gateway.schemas import ErrorOut, ModelOut
from storage.errors import ErrorCode

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=list[ModelOut], responses={503: {"model": ErrorOut}})
async def list_models(clients: ClientsDep, _: ReadAccess) -> list[ModelOut]:
    try:
        detectors = await clients.catalog.detectors()
    except InferenceServerException as error:
        raise ApiError(
            503, ErrorCode.SERVICE_UNAVAILABLE, "the inference server is unavailable"
        ) from error
    default = clients.settings.triton.model_name
    return [
        ModelOut(
            name=model.name,
            versions=list(model.versions),
            input_size=[model.height, model.width],
            default=model.name == default,
        )
        for model in detectors
    ]
