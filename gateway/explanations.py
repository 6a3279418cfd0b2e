"""Asking for and reading a job's explanation (its computation runs in the worker)."""

import logging
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import owned_job
from gateway.errors import ApiError
from gateway.producer import TaskSender
from storage.errors import ErrorCode
from storage.explanation_repository import (
    Explanation,
    ExplanationRepository,
    ExplanationStatus,
    OcclusionMethod,
    explainable,
)
from storage.job_repository import JobRepository
from storage.jobs import Job, JobError, TaskName

logger = logging.getLogger(__name__)


def explanations_path(job_id: str) -> str:
    return f"/v1/jobs/{job_id}/explanations"


class ExplainedFaceOut(BaseModel):
    index: int = Field(description="The face's place in the job's `result.faces`.")
    box: tuple[int, int, int, int] | None = Field(
        description="x0, y0, x1, y1 of the face in the upright image; null: the whole image."
    )
    region: tuple[int, int, int, int] | None = Field(
        description="x0, y0, x1, y1 of the square the overlay covers, in the upright image "
        "(it may reach past the image's edges); null: the whole image."
    )
    fake_probability: float = Field(description="P(fake) of the crop without any square.")
    max_drop: float = Field(description="The largest fall of P(fake) one square caused.")
    image: str = Field(description="The overlay: the heat map over the crop the model saw.")


class ExplanationOut(BaseModel):
    """Occlusion sensitivity: how far the fake probability falls when each part of the face
    crop is covered by a grey square. Light, hot areas are what the score rests on."""

    model_config = ConfigDict(protected_namespaces=())

    job_id: str
    model_name: str
    model_version: str
    status: ExplanationStatus
    created_at: datetime
    updated_at: datetime
    error: JobError | None
    method: OcclusionMethod | None = Field(description="Set once the explanation is ready.")
    faces: list[ExplainedFaceOut]

    @classmethod
    def from_explanation(cls, explanation: Explanation) -> "ExplanationOut":
        base = explanations_path(explanation.job_id)
        return cls(
            job_id=explanation.job_id,
            model_name=explanation.model_name,
            model_version=explanation.model_version,
            status=explanation.status,
            created_at=explanation.created_at,
            updated_at=explanation.updated_at,
            error=explanation.error,
            method=explanation.method,
            faces=[
                ExplainedFaceOut(
                    index=face.index,
                    box=face.box,
                    region=face.region,
                    fake_probability=face.fake_probability,
                    max_drop=face.max_drop,
                    image=f"{base}/{face.index}.png",
                )
                for face in explanation.faces
            ],
        )


class Explainer:
    def __init__(
        self, jobs: JobRepository, explanations: ExplanationRepository, tasks: TaskSender
    ) -> None:
        self._jobs = jobs
        self._explanations = explanations
        self._tasks = tasks

    async def job(self, tenant_id: str, job_id: str) -> Job:
        return await owned_job(self._jobs, job_id, tenant_id)

    async def request(self, tenant_id: str, job_id: str) -> tuple[Explanation, bool]:
        """The job's explanation, asked for now (True) or already there (False). A failed
        one (or one whose task was lost) is asked for again."""
        job = await self.job(tenant_id, job_id)
        if not explainable(job) or job.result is None:
            raise ApiError(
                409,
                ErrorCode.JOB_NOT_JUDGED,
                "only a succeeded job with a stored image and a scored face can be explained",
            )
        wanted = Explanation(
            job_id=job.id,
            tenant_id=tenant_id,
            model_name=job.result.model_name,
            model_version=job.result.model_version,
        )
        explanation, created = await self._explanations.create(wanted)
        if not created:
            explanation = await self._explanations.fail_if_stale(explanation)
            if explanation.status is not ExplanationStatus.FAILED:
                return explanation, False
            if not await self._explanations.retry(explanation.id):
                return await self.current(explanation), False
        try:
            await self._tasks.send(TaskName.EXPLAIN_JOB, [(explanation.id,)])
        except Exception as error:
            # Recorded but nobody will compute it: fail it (asking again retries it).
            logger.exception("enqueue failed for explanation %s", explanation.id)
            message = "the task queue is unavailable; ask again later"
            failure = JobError(code=ErrorCode.SERVICE_UNAVAILABLE, message=message)
            await self._explanations.fail(explanation.id, failure)
            raise ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, message) from error
        return await self.current(explanation), True

    async def current(self, explanation: Explanation) -> Explanation:
        return await self._explanations.get(explanation.id) or explanation

    async def find(self, tenant_id: str, job_id: str) -> Explanation:
        job = await self.job(tenant_id, job_id)
        explanation = await self._explanations.for_job(job.id)
        if explanation is None:
            raise ApiError(
                404, ErrorCode.EXPLANATION_NOT_FOUND, "no explanation was asked for this job"
            )
        return await self._explanations.fail_if_stale(explanation)
