"""Deleting data for good: on request (`DELETE /v1/jobs/{id}`, `/v1/batches/{id}`) and when
it outlives the retention settings (the worker's periodic `purge_expired` task).

Images are shared by the jobs of one tenant with identical bytes, so an object is deleted
only when no job of its tenant still refers to it. A job's webhook deliveries carry its
result in their bodies: they go with the job, as do its reviews and its explanations (their
overlays, cut from the image, also go when the image expires). A batch's rows file
(normally deleted once its rows are read) goes with the batch.

A batch is marked cancelled before its jobs are deleted: a worker still reading its rows
counts each chunk only on a batch that is there and not cancelled, and removes the jobs of
a chunk it could not count (storage.batch_intake), so no job of it is left behind.

Expiry is a periodic task rather than a MongoDB TTL index: a TTL index would drop job
documents without their images, leaving objects nothing refers to any more; the task
deletes the images first, then the documents, and works the same on every server.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from storage.explanation_repository import delete_explanations
from storage.jobs import utcnow
from storage.objects import image_key

Document = dict[str, Any]
DeleteObjects = Callable[[list[str]], Awaitable[None]]

_CHUNK = 500


@dataclass(frozen=True)
class PurgeCounts:
    jobs: int = 0
    images: int = 0
    batches: int = 0
    deliveries: int = 0


class Purger:
    def __init__(self, database: AsyncDatabase[Document], delete_objects: DeleteObjects) -> None:
        self._jobs = database["jobs"]
        self._batches = database["batches"]
        self._deliveries = database["webhook_deliveries"]
        self._reviews = database["reviews"]
        self._delete_objects = delete_objects
        self._database = database

    async def delete_job(self, tenant_id: str, job_id: str) -> bool:
        """Delete the job, its deliveries and its image (unless another job shares it)."""
        document = await self._jobs.find_one(
            {"_id": job_id, "tenant_id": tenant_id}, {"image.sha256": 1}
        )
        if document is None:
            return False
        await self._jobs.delete_one({"_id": job_id})
        await self._deliveries.delete_many({"job_id": job_id})
        await self._reviews.delete_many({"job_id": job_id})
        await self._delete_explanations([job_id])
        sha256 = (document.get("image") or {}).get("sha256")
        if sha256:
            await self._release_images(tenant_id, [sha256])
        return True

    async def delete_batch(self, tenant_id: str, batch_id: str) -> PurgeCounts | None:
        """Delete the batch, every job of it with their deliveries and images."""
        found = await self._batches.find_one(
            {"_id": batch_id, "tenant_id": tenant_id}, {"source.object_key": 1}
        )
        if found is None:
            return None
        # Workers skip jobs that are gone; marking the batch cancelled first stops new rows.
        await self._batches.update_one(
            {"_id": batch_id, "cancelled_at": None}, {"$set": {"cancelled_at": utcnow()}}
        )
        counts = await self._delete_jobs({"batch_id": batch_id})
        deliveries = await self._deliveries.delete_many({"batch_id": batch_id})
        await self._batches.delete_one({"_id": batch_id})
        await self._delete_objects(_rows_files([found]))
        return PurgeCounts(
            jobs=counts.jobs,
            images=counts.images,
            batches=1,
            deliveries=counts.deliveries + deliveries.deleted_count,
        )

    async def purge_expired(
        self, *, results_after: timedelta | None, images_after: timedelta | None, limit: int
    ) -> PurgeCounts:
        """One bounded pass: images older than `images_after`, then jobs, batches and
        deliveries older than `results_after` (None keeps them forever)."""
        now = utcnow()
        images = 0
        if images_after is not None:
            images = await self._purge_old_images(now - images_after, limit)
        if results_after is None:
            return PurgeCounts(images=images)
        cutoff = now - results_after
        counts = await self._delete_jobs({"created_at": {"$lt": cutoff}}, limit=limit)
        batches = await self._purge_old_batches(cutoff, limit)
        deliveries = await self._deliveries.delete_many({"created_at": {"$lt": cutoff}})
        return PurgeCounts(
            jobs=counts.jobs,
            images=images + counts.images,
            batches=batches,
            deliveries=counts.deliveries + deliveries.deleted_count,
        )

    async def _purge_old_batches(self, cutoff: datetime, limit: int) -> int:
        """Delete batches created before `cutoff`, their rows files first."""
        cursor = self._batches.find(
            {"created_at": {"$lt": cutoff}}, {"source.object_key": 1}, limit=limit
        )
        documents = [document async for document in cursor]
        if not documents:
            return 0
        await self._delete_objects(_rows_files(documents))
        outcome = await self._batches.delete_many({"_id": {"$in": [d["_id"] for d in documents]}})
        return outcome.deleted_count

    async def _purge_old_images(self, cutoff: datetime, limit: int) -> int:
        """Forget the images of jobs created before `cutoff`; delete what nothing uses."""
        cursor = self._jobs.find(
            {"created_at": {"$lt": cutoff}, "image": {"$ne": None}},
            {"tenant_id": 1, "image.sha256": 1},
            limit=limit,
        )
        by_tenant: dict[str, list[str]] = {}
        ids = []
        async for document in cursor:
            ids.append(document["_id"])
            by_tenant.setdefault(document["tenant_id"], []).append(document["image"]["sha256"])
        if not ids:
            return 0
        await self._jobs.update_many(
            {"_id": {"$in": ids}}, {"$set": {"image": None, "image_purged_at": utcnow()}}
        )
        # An explanation's overlays show the faces of the image: they go with it.
        await self._delete_explanations(ids)
        deleted = 0
        for tenant_id, hashes in by_tenant.items():
            deleted += await self._release_images(tenant_id, hashes)
        return deleted

    async def _delete_jobs(self, query: Document, *, limit: int | None = None) -> PurgeCounts:
        jobs = deliveries = images = 0
        while True:
            size = _CHUNK if limit is None else min(_CHUNK, limit - jobs)
            if size <= 0:
                break
            cursor = self._jobs.find(query, {"tenant_id": 1, "image.sha256": 1}, limit=size)
            documents = [document async for document in cursor]
            if not documents:
                break
            ids = [document["_id"] for document in documents]
            outcome = await self._jobs.delete_many({"_id": {"$in": ids}})
            jobs += outcome.deleted_count
            removed = await self._deliveries.delete_many({"job_id": {"$in": ids}})
            deliveries += removed.deleted_count
            await self._delete_explanations(ids)
            await self._reviews.delete_many({"job_id": {"$in": ids}})
            by_tenant: dict[str, list[str]] = {}
            for document in documents:
                sha256 = (document.get("image") or {}).get("sha256")
                if sha256:
                    by_tenant.setdefault(document["tenant_id"], []).append(sha256)
            for tenant_id, hashes in by_tenant.items():
                images += await self._release_images(tenant_id, hashes)
            if len(documents) < size:
                break
        return PurgeCounts(jobs=jobs, images=images, deliveries=deliveries)

    async def _delete_explanations(self, job_ids: list[str]) -> None:
        keys = await delete_explanations(self._database, job_ids)
        if keys:
            await self._delete_objects(keys)

    async def _release_images(self, tenant_id: str, hashes: Sequence[str]) -> int:
        """Delete the tenant's objects for `hashes` that no job of it still refers to."""
        unique = sorted(set(hashes))
        in_use = {
            document["image"]["sha256"]
            async for document in self._jobs.find(
                {"tenant_id": tenant_id, "image.sha256": {"$in": unique}},
                {"image.sha256": 1},
            )
        }
        unused = [image_key(tenant_id, sha256) for sha256 in unique if sha256 not in in_use]
        if unused:
            await self._delete_objects(unused)
        return len(unused)


def _rows_files(batches: list[Document]) -> list[str]:
    """The rows files of these batch documents (deleting one already gone is harmless)."""
    return [
        str(document["source"]["object_key"])
        for document in batches
        if (document.get("source") or {}).get("object_key")
    ]
