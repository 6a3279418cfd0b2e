"""Reviewers' decisions on jobs: a label for the image or one of its faces, and a note.

Each review is its own document (`reviews`), never edited: the history of a job's labels is
kept. The job also carries the latest one (`review`) and how many it has (`review_count`),
so the listing filters on "reviewed or not" through an index and shows the label without
another query.
"""

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pydantic import Field
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from storage.jobs import JobResult, Verdict, new_job_id, utcnow
from storage.review_labels import NOTE_MAX_CHARS, Agreement, ReviewLabel, ReviewSummary

Document = dict[str, Any]


class Review(ReviewSummary):
    id: str = Field(default_factory=new_job_id)
    tenant_id: str
    job_id: str
    note: str = Field(default="", max_length=NOTE_MAX_CHARS)
    created_at: datetime = Field(default_factory=utcnow)

    def summary(self) -> ReviewSummary:
        return ReviewSummary.model_validate(
            self.model_dump(include=set(ReviewSummary.model_fields))
        )


def model_verdict(result: JobResult | None, face: int | None) -> Verdict | None:
    """What the model said about the image (`face` None) or one of its faces."""
    if result is None:
        return None
    if face is None:
        return result.verdict
    return result.faces[face].verdict if 0 <= face < len(result.faces) else None


_SAYS = {Verdict.FAKE: ReviewLabel.FAKE, Verdict.REAL: ReviewLabel.REAL}


def agreement(label: ReviewLabel, verdict: Verdict | None) -> Agreement:
    said = None if verdict is None else _SAYS.get(verdict)
    if label is ReviewLabel.UNSURE or said is None:
        return Agreement.NOT_APPLICABLE
    return Agreement.AGREE if said is label else Agreement.DISAGREE


class ReviewRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._reviews = database["reviews"]
        self._jobs = database["jobs"]

    async def ensure_indexes(self) -> None:
        # A job's reviews, newest first; the export walks (job, face) groups in this order.
        await self._reviews.create_index(
            [
                ("tenant_id", ASCENDING),
                ("job_id", ASCENDING),
                ("face", ASCENDING),
                ("created_at", ASCENDING),
            ]
        )
        await self._reviews.create_index([("job_id", ASCENDING)])

    async def add(self, review: Review) -> bool:
        """Record a review and make it the job's latest; False if the job is gone."""
        document = review.model_dump(mode="python", exclude={"id"})
        document["_id"] = review.id
        await self._reviews.insert_one(document)
        updated = await self._jobs.update_one(
            {"_id": review.job_id, "tenant_id": review.tenant_id},
            {
                "$set": {"review": review.summary().model_dump(mode="python")},
                "$inc": {"review_count": 1},
            },
        )
        if updated.matched_count == 0:  # deleted meanwhile: keep nothing of it
            await self._reviews.delete_one({"_id": review.id})
            return False
        return True

    async def of_job(self, tenant_id: str, job_id: str, limit: int = 500) -> list[Review]:
        found = (
            self._reviews.find({"tenant_id": tenant_id, "job_id": job_id})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [_review(document) async for document in found]

    async def latest(self, tenant_id: str) -> AsyncIterator[Review]:
        """The latest review of each (job, face) of the tenant, grouped by job: the
        labelled set. Streams through the index; holds one group at a time."""
        order = [("job_id", ASCENDING), ("face", ASCENDING), ("created_at", ASCENDING)]
        found = self._reviews.find({"tenant_id": tenant_id}).sort(order)
        current: Review | None = None
        async for document in found:
            review = _review(document)
            if current is not None and (current.job_id, current.face) != (
                review.job_id,
                review.face,
            ):
                yield current
            current = review
        if current is not None:
            yield current


def _review(document: Document) -> Review:
    fields = dict(document)
    fields["id"] = fields.pop("_id")
    return Review.model_validate(fields)
