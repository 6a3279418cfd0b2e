"""Webhook endpoints and deliveries in MongoDB.

Like the job repository, every change a concurrent task could also make is one conditional
`update_one`: an attempt is claimed (`claimed: n-1 -> n`) before it is sent, so a task that
Redis hands out twice sends nothing the second time, and a redelivery bumps `series` so
tasks of the previous series find nothing to do.
"""

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from storage.jobs import utcnow
from storage.signing_keys import CallbackSecrets, rotate
from storage.webhooks import Attempt, Delivery, DeliveryStatus, EventType, WebhookEndpoint

Document = dict[str, Any]
_FINISHED = [DeliveryStatus.SUCCEEDED.value, DeliveryStatus.FAILED.value]


def _to_document(model: WebhookEndpoint | Delivery) -> Document:
    document = model.model_dump(mode="python", exclude={"id"})
    document["_id"] = model.id
    return document


def _fields(document: Document) -> Document:
    document = dict(document)
    document["id"] = document.pop("_id")
    return document


class WebhookRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._endpoints = database["webhook_endpoints"]
        self._deliveries = database["webhook_deliveries"]
        self.callback_secrets = CallbackSecrets(database)

    async def ensure_indexes(self) -> None:
        await self._endpoints.create_index([("tenant_id", ASCENDING), ("created_at", ASCENDING)])
        await self._deliveries.create_index([("tenant_id", ASCENDING), ("created_at", ASCENDING)])
        await self._deliveries.create_index([("job_id", ASCENDING)])
        await self._deliveries.create_index([("endpoint_id", ASCENDING)])
        await self._deliveries.create_index([("created_at", ASCENDING)])
        await self._deliveries.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])

    # Endpoints

    async def insert_endpoint(self, endpoint: WebhookEndpoint) -> None:
        await self._endpoints.insert_one(_to_document(endpoint))

    async def get_endpoint(self, endpoint_id: str) -> WebhookEndpoint | None:
        document = await self._endpoints.find_one({"_id": endpoint_id})
        return None if document is None else WebhookEndpoint.model_validate(_fields(document))

    async def list_endpoints(self, tenant_id: str) -> list[WebhookEndpoint]:
        cursor = self._endpoints.find({"tenant_id": tenant_id}).sort("created_at", DESCENDING)
        return [WebhookEndpoint.model_validate(_fields(d)) async for d in cursor]

    async def endpoints_for(self, event_type: EventType, tenant_id: str) -> list[WebhookEndpoint]:
        """The tenant's enabled endpoints subscribed to `event_type`."""
        cursor = self._endpoints.find(
            {"tenant_id": tenant_id, "disabled": False, "event_types": event_type.value}
        )
        return [WebhookEndpoint.model_validate(_fields(d)) async for d in cursor]

    async def delete_endpoint(self, endpoint_id: str) -> bool:
        outcome = await self._endpoints.delete_one({"_id": endpoint_id})
        return outcome.deleted_count == 1

    async def rotate_secret(
        self, endpoint_id: str, new_secret: str, grace_s: float
    ) -> WebhookEndpoint | None:
        """Make `new_secret` current; the old one keeps signing for `grace_s`."""
        document = await rotate(self._endpoints, endpoint_id, new_secret, grace_s)
        return None if document is None else WebhookEndpoint.model_validate(_fields(document))

    async def disable_endpoint(self, endpoint_id: str, reason: str) -> WebhookEndpoint | None:
        """Disable the endpoint; the endpoint as disabled, or None if it already was (or is
        gone), so that one caller only announces it."""
        now = utcnow()
        changes = {"disabled": True, "disabled_reason": reason, "disabled_at": now}
        outcome = await self._endpoints.update_one(
            {"_id": endpoint_id, "disabled": False}, {"$set": {**changes, "updated_at": now}}
        )
        if outcome.modified_count != 1:
            return None
        return await self.get_endpoint(endpoint_id)

    async def enable_endpoint(self, endpoint_id: str) -> WebhookEndpoint | None:
        """Take a disabled endpoint back into use with a fresh failure clock; the endpoint,
        or None if it is gone. Deliveries it missed meanwhile are not sent again."""
        outcome = await self._endpoints.update_one(
            {"_id": endpoint_id},
            {
                "$set": {
                    "disabled": False,
                    "disabled_reason": None,
                    "disabled_at": None,
                    "failing_since": None,
                    "updated_at": utcnow(),
                }
            },
        )
        if outcome.matched_count != 1:
            return None
        return await self.get_endpoint(endpoint_id)

    async def mark_failing(self, endpoint_id: str, since: datetime) -> None:
        """Start the endpoint's failure clock, unless it runs already."""
        await self._endpoints.update_one(
            {"_id": endpoint_id, "failing_since": None}, {"$set": {"failing_since": since}}
        )

    async def mark_healthy(self, endpoint_id: str) -> None:
        await self._endpoints.update_one({"_id": endpoint_id}, {"$set": {"failing_since": None}})

    # Deliveries

    async def create_delivery(self, delivery: Delivery) -> bool:
        """False when this (event, destination) already has its delivery."""
        try:
            await self._deliveries.insert_one(_to_document(delivery))
        except DuplicateKeyError:
            return False
        return True

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        document = await self._deliveries.find_one({"_id": delivery_id})
        return None if document is None else Delivery.model_validate(_fields(document))

    async def list_deliveries(
        self,
        *,
        tenant_id: str,
        endpoint_id: str | None = None,
        job_id: str | None = None,
        status: DeliveryStatus | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        query: Document = {"tenant_id": tenant_id}
        if endpoint_id is not None:
            query["endpoint_id"] = endpoint_id
        if job_id is not None:
            query["job_id"] = job_id
        if status is not None:
            query["status"] = status.value
        cursor = self._deliveries.find(query).sort("created_at", DESCENDING).limit(limit)
        return [Delivery.model_validate(_fields(d)) async for d in cursor]

    async def claim_attempt(self, delivery_id: str, series: int, number: int) -> Delivery | None:
        """Take attempt `number` of `series`; None if it is taken, stale or finished."""
        delivery = await self.get_delivery(delivery_id)
        if delivery is None or not delivery.claimable(series, number):
            return None
        return delivery if await self.claim(delivery, number) else None

    async def claim(self, delivery: Delivery, number: int) -> bool:
        """Take attempt `number` of the series `delivery` (as read) is in; False if another
        task took it, or a redelivery or an attempt changed the delivery since."""
        outcome = await self._deliveries.update_one(
            {
                "_id": delivery.id,
                "status": DeliveryStatus.PENDING.value,
                "series": delivery.series,
                "claimed": number - 1,
            },
            {"$set": {"claimed": number, "held": False, "updated_at": utcnow()}},
        )
        return outcome.modified_count == 1

    async def record_attempt(
        self,
        delivery_id: str,
        attempt: Attempt,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
        *,
        held: bool = False,
    ) -> bool:
        """Record a claimed attempt; `held`: the next one waits in MongoDB for the sweep."""
        outcome = await self._deliveries.update_one(
            {
                "_id": delivery_id,
                "status": DeliveryStatus.PENDING.value,
                "series": attempt.series,
                "claimed": attempt.number,
            },
            {
                "$push": {"attempts": attempt.model_dump(mode="python")},
                "$set": {
                    "status": status.value,
                    "next_attempt_at": next_attempt_at,
                    "held": held,
                    "updated_at": utcnow(),
                },
            },
        )
        return outcome.modified_count == 1

    async def restart(self, delivery_id: str) -> Delivery | None:
        """Start a new attempt series for a finished delivery; None if it is still pending."""
        outcome = await self._deliveries.update_one(
            {"_id": delivery_id, "status": {"$in": _FINISHED}},
            {
                "$set": {
                    "status": DeliveryStatus.PENDING.value,
                    "claimed": 0,
                    "held": False,
                    "next_attempt_at": utcnow(),
                    "updated_at": utcnow(),
                },
                "$inc": {"series": 1},
            },
        )
        if outcome.modified_count != 1:
            return None
        return await self.get_delivery(delivery_id)

    async def abandon(self, delivery_id: str, series: int) -> bool:
        """Close a series that no task will run (its enqueue failed), so it can be restarted."""
        outcome = await self._deliveries.update_one(
            {
                "_id": delivery_id,
                "status": DeliveryStatus.PENDING.value,
                "series": series,
                "claimed": 0,
            },
            {
                "$set": {
                    "status": DeliveryStatus.FAILED.value,
                    "next_attempt_at": None,
                    "held": False,
                }
            },
        )
        return outcome.modified_count == 1

    async def stalled(self, before: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries whose next attempt was due before `before` and that no task has
        touched since: their task was lost (a killed worker, a broker that lost its data).
        Held ones are the sweep's (`due_held`), not lost."""
        cursor = self._deliveries.find(
            {
                "status": DeliveryStatus.PENDING.value,
                "next_attempt_at": {"$lt": before},
                "updated_at": {"$lt": before},
                "held": {"$ne": True},
            }
        ).limit(limit)
        return [Delivery.model_validate(_fields(d)) async for d in cursor]

    async def hold(self, delivery: Delivery, until: datetime) -> bool:
        """Leave the next attempt of `delivery` (as read) in MongoDB until `until`, for the
        sweep: its tenant is at its cap of deliveries in flight."""
        outcome = await self._deliveries.update_one(
            {
                "_id": delivery.id,
                "status": DeliveryStatus.PENDING.value,
                "series": delivery.series,
                "claimed": delivery.claimed,
            },
            {"$set": {"held": True, "next_attempt_at": until, "updated_at": utcnow()}},
        )
        return outcome.modified_count == 1

    async def due_held(self, now: datetime, limit: int) -> list[Delivery]:
        """Held deliveries whose next attempt is due, longest due first (the
        status+next_attempt_at index)."""
        cursor = (
            self._deliveries.find(
                {
                    "status": DeliveryStatus.PENDING.value,
                    "next_attempt_at": {"$lte": now},
                    "held": True,
                }
            )
            .sort("next_attempt_at", ASCENDING)
            .limit(limit)
        )
        return [Delivery.model_validate(_fields(d)) async for d in cursor]

    async def release(self, delivery: Delivery) -> bool:
        """Hand a held delivery (as read) to the broker: the one caller that wins enqueues
        its next attempt. A release whose enqueue then fails is found by `stalled`."""
        outcome = await self._deliveries.update_one(
            {
                "_id": delivery.id,
                "status": DeliveryStatus.PENDING.value,
                "series": delivery.series,
                "claimed": delivery.claimed,
                "held": True,
            },
            {"$set": {"held": False, "updated_at": utcnow()}},
        )
        return outcome.modified_count == 1

    async def touch(self, delivery: Delivery) -> bool:
        """Bump `updated_at` if the delivery is as read; the one caller that wins re-enqueues
        its next attempt."""
        outcome = await self._deliveries.update_one(
            {
                "_id": delivery.id,
                "status": DeliveryStatus.PENDING.value,
                "series": delivery.series,
                "claimed": delivery.claimed,
                "updated_at": delivery.updated_at,
            },
            {"$set": {"updated_at": utcnow()}},
        )
        return outcome.modified_count == 1
