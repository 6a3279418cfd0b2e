"""The public shapes of `/v1/webhooks`: endpoints (secrets shown once) and deliveries."""

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas import URL_SCHEMA
from storage.jobs import utcnow
from storage.signing_keys import CallbackSecret
from storage.webhooks import (
    Attempt,
    Delivery,
    DeliveryStatus,
    DestinationKind,
    EventType,
    WebhookEndpoint,
)


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        description="http(s) URL that receives the signed events.", json_schema_extra=URL_SCHEMA
    )
    event_types: list[EventType] = Field(min_length=1, max_length=len(EventType))
    description: str | None = Field(default=None, max_length=500)


class WebhookOut(BaseModel):
    id: str
    url: str
    event_types: list[EventType]
    description: str | None
    disabled: bool = Field(
        description="True once the endpoint answered 410 Gone, or failed every attempt for "
        "`WORKER_WEBHOOK__DISABLE_AFTER_S`; it then receives no events."
    )
    disabled_reason: str | None
    disabled_at: datetime | None = None
    failing_since: datetime | None = Field(
        default=None,
        description="The first failed attempt since the last delivered one; null while healthy.",
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_endpoint(cls, endpoint: WebhookEndpoint) -> "WebhookOut":
        return cls.model_validate(endpoint.model_dump(exclude={"secret", "previous_secrets"}))


class WebhookSecretOut(WebhookOut):
    secret: str = Field(description="`whsec_…`: shown in this response only; keep it.")

    @classmethod
    def with_secret(cls, endpoint: WebhookEndpoint) -> "WebhookSecretOut":
        return cls.model_validate(endpoint.model_dump(exclude={"previous_secrets"}))


class DeliveryOut(BaseModel):
    id: str
    message_id: str = Field(description="The `webhook-id` header: the same on every attempt.")
    event_type: EventType
    destination: DestinationKind
    endpoint_id: str | None
    url: str
    job_id: str | None
    batch_id: str | None = None
    status: DeliveryStatus
    series: int = Field(description="1, plus one per redelivery.")
    attempt_count: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_delivery(cls, delivery: Delivery) -> "DeliveryOut":
        fields = delivery.model_dump(exclude={"body", "attempts", "claimed"})
        return cls(**fields, attempt_count=len(delivery.attempts))


class DeliveryDetailOut(DeliveryOut):
    attempts: list[Attempt]
    payload: dict[str, Any] = Field(description="The event as sent.")

    @classmethod
    def from_delivery(cls, delivery: Delivery) -> "DeliveryDetailOut":
        summary = DeliveryOut.from_delivery(delivery).model_dump()
        return cls(**summary, attempts=delivery.attempts, payload=json.loads(delivery.body))


class CallbackSecretOut(BaseModel):
    secret: str = Field(
        description="`whsec_…`: signs every delivery to this tenant's `callback_url`s "
        "(Standard Webhooks), and no other tenant's."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the rotated-out secret also signs (a second signature)."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_secret(cls, key: CallbackSecret) -> "CallbackSecretOut":
        return cls(
            secret=key.secret,
            previous_secret_expires_at=key.previous_expires_at(utcnow()),
            created_at=key.created_at,
            updated_at=key.updated_at,
        )
