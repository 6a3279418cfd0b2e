"""Occlusion-sensitivity explanations of a judged job, in MongoDB (`explanations`).

One explanation per job and model version (a unique index): asking twice returns the first.
The gateway records one `pending` and sends its ID to the worker, which computes it and
marks it `ready` or `failed`. Every change is one conditional `update_one` on the status,
as for jobs, so a redelivered task or a late one writes nothing twice. A pending one whose
task was lost altogether (its message gone with the broker) is failed `worker_lost` when it
is next read past `PENDING_TIMEOUT` (`fail_if_stale`): nothing stays pending for good.
"""

import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from storage.errors import ErrorCode
from storage.jobs import DetectionMode, Job, JobError, JobStatus, Verdict, utcnow
from storage.objects import explanation_key

Document = dict[str, Any]

# A pending explanation untouched this long lost its task. The worker touches it at every
# attempt; one attempt lasts at most the task time limit (120 s, killed 30 s later) plus a
# retry's backoff (60 s at most): ten minutes leaves room for a busy queue.
PENDING_TIMEOUT = timedelta(minutes=10)
# The most faces one explanation covers: the worker's `faces.max_faces` is at most this, so
# deleting an explanation's images needs no listing of the object store.
MAX_EXPLAINED_FACES = 64


class ExplanationStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class OcclusionMethod(BaseModel):
    """How the map was made: grey squares slid over the crop the model saw."""

    kind: str = Field(default="occlusion", description="Occlusion sensitivity.")
    input_size: tuple[int, int] = Field(description="width, height of the crop the model saw.")
    patch: tuple[int, int] = Field(description="width, height of each grey square, in pixels.")
    stride: tuple[int, int] = Field(description="Steps between squares, x and y, in pixels.")
    grid: tuple[int, int] = Field(description="Squares across and down: one input each.")
    fill: int = Field(default=128, description="The grey level of the squares (0-255).")


class ExplainedFace(BaseModel):
    index: int = Field(ge=0, description="The face's place in the job's result.")
    box: tuple[int, int, int, int] | None = Field(
        description="x0, y0, x1, y1 of the face in the upright image; null: the whole image."
    )
    region: tuple[int, int, int, int] | None = Field(
        default=None,
        description="x0, y0, x1, y1 of the square the overlay covers, in the upright image "
        "(it may reach past the image's edges); null: the whole image.",
    )
    fake_probability: float = Field(
        ge=0.0, le=1.0, description="The model's P(fake) for the crop without any square."
    )
    max_drop: float = Field(
        ge=0.0, le=1.0, description="The largest fall of P(fake) that one square caused."
    )
    image_sha256: str = Field(description="SHA-256 of the overlay PNG.")


class Explanation(BaseModel):
    id: str = Field(default_factory=lambda: "exp_" + secrets.token_urlsafe(16))
    job_id: str
    tenant_id: str
    model_name: str
    model_version: str
    status: ExplanationStatus = ExplanationStatus.PENDING
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    error: JobError | None = None
    method: OcclusionMethod | None = None
    faces: list[ExplainedFace] = Field(default_factory=list)
    # Deliveries of its task that a lost worker gave back (worker.explanations).
    lost_deliveries: int = 0


def explainable(job: Job) -> bool:
    """Whether the job has scores an explanation can start from, and the image behind them
    (a result reused from another job still has its own stored image)."""
    result = job.result
    return (
        job.status is JobStatus.SUCCEEDED
        and job.image is not None
        and result is not None
        and result.verdict is not Verdict.NO_FACE
        and result.fake_probability is not None
        and (bool(result.faces) or result.mode is DetectionMode.WHOLE_IMAGE)
    )


def _to_document(explanation: Explanation) -> Document:
    document = explanation.model_dump(mode="python", exclude={"id"})
    document["_id"] = explanation.id
    return document


def _from_document(document: Document) -> Explanation:
    document = dict(document)
    document["id"] = document.pop("_id")
    return Explanation.model_validate(document)


def lost_task_error() -> JobError:
    minutes = PENDING_TIMEOUT.total_seconds() / 60
    return JobError(
        code=ErrorCode.WORKER_LOST,
        message=f"the explanation was not computed within {minutes:g} minutes; ask again",
    )


class ExplanationRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._explanations = database["explanations"]

    async def ensure_indexes(self) -> None:
        await self._explanations.create_index(
            [("job_id", ASCENDING), ("model_version", ASCENDING)], unique=True
        )

    async def create(self, explanation: Explanation) -> tuple[Explanation, bool]:
        """Record it, or find the one already there for its job and model version; True
        when this call created it."""
        try:
            await self._explanations.insert_one(_to_document(explanation))
        except DuplicateKeyError:
            existing = await self._explanations.find_one(
                {"job_id": explanation.job_id, "model_version": explanation.model_version}
            )
            if existing is None:  # deleted with its job in between
                raise
            return _from_document(existing), False
        return explanation, True

    async def get(self, explanation_id: str) -> Explanation | None:
        document = await self._explanations.find_one({"_id": explanation_id})
        return None if document is None else _from_document(document)

    async def for_job(self, job_id: str) -> Explanation | None:
        """The job's newest explanation (a job's result has one model version: its only)."""
        cursor = self._explanations.find({"job_id": job_id}).sort("created_at", DESCENDING)
        async for document in cursor.limit(1):
            return _from_document(document)
        return None

    async def _move(self, explanation_id: str, source: ExplanationStatus, fields: Document) -> bool:
        outcome = await self._explanations.update_one(
            {"_id": explanation_id, "status": source.value},
            {"$set": {**fields, "updated_at": utcnow()}},
        )
        return outcome.modified_count == 1

    async def touch(self, explanation_id: str) -> bool:
        """An attempt starts: a pending one is not stale. False if it is not pending."""
        return await self._move(explanation_id, ExplanationStatus.PENDING, {})

    async def count_lost_delivery(self, explanation_id: str, bound: int) -> bool:
        """Count one redelivery of its task; False once past `bound` (or not pending)."""
        outcome = await self._explanations.update_one(
            {
                "_id": explanation_id,
                "status": ExplanationStatus.PENDING.value,
                "lost_deliveries": {"$lt": bound},
            },
            {"$inc": {"lost_deliveries": 1}, "$set": {"updated_at": utcnow()}},
        )
        return outcome.modified_count == 1

    async def succeed(
        self, explanation_id: str, method: OcclusionMethod, faces: list[ExplainedFace]
    ) -> bool:
        fields = {
            "status": ExplanationStatus.READY.value,
            "method": method.model_dump(mode="python"),
            "faces": [face.model_dump(mode="python") for face in faces],
        }
        return await self._move(explanation_id, ExplanationStatus.PENDING, fields)

    async def fail(self, explanation_id: str, error: JobError) -> bool:
        fields = {"status": ExplanationStatus.FAILED.value, "error": error.model_dump()}
        return await self._move(explanation_id, ExplanationStatus.PENDING, fields)

    async def retry(self, explanation_id: str) -> bool:
        """A failed one asked for again: pending once more, counts and error cleared."""
        fields = {
            "status": ExplanationStatus.PENDING.value,
            "error": None,
            "lost_deliveries": 0,
        }
        return await self._move(explanation_id, ExplanationStatus.FAILED, fields)

    async def fail_if_stale(self, explanation: Explanation) -> Explanation:
        """The explanation as it now is: failed `worker_lost` if it was pending too long."""
        if explanation.status is not ExplanationStatus.PENDING:
            return explanation
        if explanation.updated_at > utcnow() - PENDING_TIMEOUT:
            return explanation
        # Conditional: a worker that touched it meanwhile keeps it pending.
        await self._explanations.update_one(
            {
                "_id": explanation.id,
                "status": ExplanationStatus.PENDING.value,
                "updated_at": {"$lte": utcnow() - PENDING_TIMEOUT},
            },
            {
                "$set": {
                    "status": ExplanationStatus.FAILED.value,
                    "error": lost_task_error().model_dump(),
                    "updated_at": utcnow(),
                }
            },
        )
        return await self.get(explanation.id) or explanation


async def delete_explanations(database: AsyncDatabase[Document], job_ids: list[str]) -> list[str]:
    """Delete the explanations of these jobs; the object keys their overlays may have.

    The documents go first, the overlays after (by the caller): a worker that stores an
    overlay later finds its explanation gone and deletes the overlay itself.
    """
    collection = database["explanations"]
    found = collection.find(
        {"job_id": {"$in": job_ids}}, {"tenant_id": 1, "job_id": 1, "model_version": 1}
    )
    documents = [document async for document in found]
    if not documents:
        return []
    await collection.delete_many({"_id": {"$in": [d["_id"] for d in documents]}})
    return [
        explanation_key(d["tenant_id"], d["job_id"], d["model_version"], index)
        for d in documents
        for index in range(MAX_EXPLAINED_FACES)
    ]
