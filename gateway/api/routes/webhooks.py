"""`/v1/webhooks`: register endpoints for job events, rotate their secrets, read and rotate
the tenant's callback secret, inspect and redeliver deliveries."""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from redis.exceptions import RedisError

from gateway.api.deps import Clients, ClientsDep, WebhooksDep
from gateway.auth import AdminAccess, Principal
from gateway.errors import ApiError
from gateway.schemas import ErrorOut
from gateway.webhook_schemas import (
    CallbackSecretOut,
    DeliveryDetailOut,
    DeliveryOut,
    WebhookCreate,
    WebhookOut,
    WebhookSecretOut,
)
from storage.endpoint_versions import version_key
from storage.errors import ErrorCode
from storage.jobs import TaskName
from storage.netguard import validate_url
from storage.signing import new_secret
from storage.webhook_repository import WebhookRepository
from storage.webhooks import Delivery, DeliveryStatus, WebhookEndpoint

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}
_MAX_ID_LENGTH = 64


async def _endpoint(
    webhooks: WebhookRepository, webhook_id: str, principal: Principal
) -> WebhookEndpoint:
    endpoint = (
        await webhooks.get_endpoint(webhook_id) if len(webhook_id) <= _MAX_ID_LENGTH else None
    )
    if endpoint is None or endpoint.tenant_id != principal.tenant_id:
        raise ApiError(404, ErrorCode.WEBHOOK_NOT_FOUND, f"no webhook with id {webhook_id!r}")
    return endpoint


async def _delivery(
    webhooks: WebhookRepository, delivery_id: str, principal: Principal
) -> Delivery:
    found = None
    if len(delivery_id) <= _MAX_ID_LENGTH:
        found = await webhooks.get_delivery(delivery_id)
    if found is None or found.tenant_id != principal.tenant_id:
        raise ApiError(404, ErrorCode.DELIVERY_NOT_FOUND, f"no delivery with id {delivery_id!r}")
    return found


@router.post(
    "",
    status_code=201,
    response_model=WebhookSecretOut,
    responses={422: {"model": ErrorOut}},
    summary="Register an endpoint; the answer holds its signing secret, shown only here",
)
async def create_webhook(
    body: WebhookCreate, clients: ClientsDep, principal: AdminAccess
) -> WebhookSecretOut:
    validate_url(body.url, max_length=clients.settings.max_url_length)
    endpoint = WebhookEndpoint(
        tenant_id=principal.tenant_id,
        url=body.url,
        event_types=list(dict.fromkeys(body.event_types)),
        description=body.description,
        secret=new_secret(),
    )
    await clients.webhooks.insert_endpoint(endpoint)
    await _endpoints_changed(clients, principal.tenant_id)
    return WebhookSecretOut.with_secret(endpoint)


@router.get("", response_model=list[WebhookOut])
async def list_webhooks(webhooks: WebhooksDep, principal: AdminAccess) -> list[WebhookOut]:
    endpoints = await webhooks.list_endpoints(principal.tenant_id)
    return [WebhookOut.from_endpoint(e) for e in endpoints]


# Declared before `/{webhook_id}`, which would otherwise match "callback-secret".
@router.get(
    "/callback-secret",
    response_model=CallbackSecretOut,
    summary="The secret that signs this tenant's callback_url deliveries",
)
async def get_callback_secret(webhooks: WebhooksDep, principal: AdminAccess) -> CallbackSecretOut:
    return CallbackSecretOut.from_secret(await webhooks.callback_secrets.get(principal.tenant_id))


@router.post(
    "/callback-secret/rotate",
    response_model=CallbackSecretOut,
    summary="New callback secret; the old one also signs during the grace period",
)
async def rotate_callback_secret(clients: ClientsDep, principal: AdminAccess) -> CallbackSecretOut:
    grace_s = clients.settings.webhook_secret_grace_s
    rotated = await clients.webhooks.callback_secrets.rotate(
        principal.tenant_id, new_secret(), grace_s
    )
    return CallbackSecretOut.from_secret(rotated)


# Declared before `/{webhook_id}`, which would otherwise match "deliveries".
@router.get("/deliveries", response_model=list[DeliveryOut], summary="Most recent first")
async def list_deliveries(
    webhooks: WebhooksDep,
    principal: AdminAccess,
    endpoint_id: Annotated[str | None, Query(max_length=_MAX_ID_LENGTH)] = None,
    job_id: Annotated[str | None, Query(max_length=_MAX_ID_LENGTH)] = None,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[DeliveryOut]:
    deliveries = await webhooks.list_deliveries(
        tenant_id=principal.tenant_id,
        endpoint_id=endpoint_id,
        job_id=job_id,
        status=status,
        limit=limit,
    )
    return [DeliveryOut.from_delivery(d) for d in deliveries]


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetailOut, responses=_NOT_FOUND)
async def get_delivery(
    delivery_id: str, webhooks: WebhooksDep, principal: AdminAccess
) -> DeliveryDetailOut:
    return DeliveryDetailOut.from_delivery(await _delivery(webhooks, delivery_id, principal))


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryOut,
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    summary="Send a finished delivery again, as a new series of attempts",
)
async def redeliver(delivery_id: str, clients: ClientsDep, principal: AdminAccess) -> DeliveryOut:
    await _delivery(clients.webhooks, delivery_id, principal)
    restarted = await clients.webhooks.restart(delivery_id)
    if restarted is None:
        raise ApiError(
            409, ErrorCode.DELIVERY_PENDING, "the delivery is still being attempted; wait for it"
        )
    try:
        await clients.tasks.send(TaskName.DELIVER_WEBHOOK, [[restarted.id, restarted.series, 1]])
    except Exception as error:
        await clients.webhooks.abandon(restarted.id, restarted.series)
        message = "the delivery queue is unavailable; try again later"
        raise ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, message) from error
    return DeliveryOut.from_delivery(restarted)


@router.get("/{webhook_id}", response_model=WebhookOut, responses=_NOT_FOUND)
async def get_webhook(webhook_id: str, webhooks: WebhooksDep, principal: AdminAccess) -> WebhookOut:
    return WebhookOut.from_endpoint(await _endpoint(webhooks, webhook_id, principal))


@router.delete("/{webhook_id}", status_code=204, responses=_NOT_FOUND)
async def delete_webhook(webhook_id: str, clients: ClientsDep, principal: AdminAccess) -> Response:
    await _endpoint(clients.webhooks, webhook_id, principal)
    if not await clients.webhooks.delete_endpoint(webhook_id):
        raise ApiError(404, ErrorCode.WEBHOOK_NOT_FOUND, f"no webhook with id {webhook_id!r}")
    await _endpoints_changed(clients, principal.tenant_id)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/enable",
    response_model=WebhookOut,
    responses=_NOT_FOUND,
    summary="Take an endpoint disabled after failing (or a 410) back into use",
)
async def enable_webhook(
    webhook_id: str, clients: ClientsDep, principal: AdminAccess
) -> WebhookOut:
    await _endpoint(clients.webhooks, webhook_id, principal)
    enabled = await clients.webhooks.enable_endpoint(webhook_id)
    if enabled is None:
        raise ApiError(404, ErrorCode.WEBHOOK_NOT_FOUND, f"no webhook with id {webhook_id!r}")
    await _endpoints_changed(clients, principal.tenant_id)
    return WebhookOut.from_endpoint(enabled)


async def _endpoints_changed(clients: Clients, tenant_id: str) -> None:
    """Tell the workers that keep the tenant's endpoints to read them again."""
    try:
        await clients.redis.incr(version_key(tenant_id))
    except RedisError as error:
        # The workers' copies expire within seconds anyway.
        logger.warning("endpoint version of %s not bumped: %r", tenant_id, error)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=WebhookSecretOut,
    responses=_NOT_FOUND,
    summary="New secret (shown only here); the old one also signs during the grace period",
)
async def rotate_secret(
    webhook_id: str, clients: ClientsDep, principal: AdminAccess
) -> WebhookSecretOut:
    await _endpoint(clients.webhooks, webhook_id, principal)
    grace_s = clients.settings.webhook_secret_grace_s
    rotated = await clients.webhooks.rotate_secret(webhook_id, new_secret(), grace_s)
    if rotated is None:
        raise ApiError(404, ErrorCode.WEBHOOK_NOT_FOUND, f"no webhook with id {webhook_id!r}")
    return WebhookSecretOut.with_secret(rotated)
