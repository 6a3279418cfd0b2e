"""Every route the clients wrap, as a `Call` to send."""

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict

import httpx

from deepfake_client.calls import (
    BatchOptions,
    Call,
    FileSource,
    JobOptions,
    Upload,
    as_bytes,
    as_model,
    as_models,
    as_none,
    checked,
    form_fields,
    keyed,
    query,
    segment,
)
from deepfake_client.models import (
    Batch,
    BatchPage,
    CallbackSecret,
    Delivery,
    DeliveryDetail,
    Job,
    JobPage,
    Model,
    Webhook,
    WebhookWithSecret,
)
from deepfake_client.review_models import Explanation, Review, ReviewList

ExportFormat = Literal["jsonl", "csv", "zip"]


class BatchItem(TypedDict):
    image_url: str
    external_id: NotRequired[str]
    metadata: NotRequired[dict[str, Any]]


def new_idempotency_key() -> str:
    return f"deepfake-client-{uuid.uuid4()}"


# Jobs


def submit_url(image_url: str, key: str | None, options: JobOptions) -> Call[Job]:
    body = {"image_url": image_url, **options}
    headers = keyed(key or new_idempotency_key())
    return Call("POST", "/v1/jobs", as_model(Job), True, json=body, headers=headers)


def submit_file(
    file: FileSource, filename: str | None, key: str | None, options: JobOptions
) -> Call[Job]:
    return Call(
        "POST",
        "/v1/jobs",
        as_model(Job),
        True,
        form=form_fields(options),
        upload=Upload.of(file, filename, "image"),
        headers=keyed(key or new_idempotency_key()),
    )


def get_job(job_id: str, wait_s: float = 0.0) -> Call[Job]:
    params = {"wait": round(wait_s, 3)} if wait_s > 0 else {}
    return Call("GET", f"/v1/jobs/{segment(job_id)}", as_model(Job), True, params, held_s=wait_s)


def delete_job(job_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/jobs/{segment(job_id)}", as_none, True)


def list_jobs(limit: int, cursor: str | None, filters: Mapping[str, Any]) -> Call[JobPage]:
    params = query({"limit": limit, "cursor": cursor, **filters})
    return Call("GET", "/v1/jobs", as_model(JobPage), True, params)


def get_job_image(job_id: str, face: int | None) -> Call[bytes]:
    params = query({"face": face})
    return Call("GET", f"/v1/jobs/{segment(job_id)}/image", as_bytes, True, params)


def list_models() -> Call[list[Model]]:
    return Call("GET", "/v1/models", as_models(Model), True)


# Batches


def submit_batch(
    items: Sequence[BatchItem | Mapping[str, Any]], key: str | None, options: BatchOptions
) -> Call[Batch]:
    body = {"items": [dict(item) for item in items], **options}
    headers = keyed(key or new_idempotency_key())
    return Call("POST", "/v1/batches", as_model(Batch), True, json=body, headers=headers)


def submit_batch_file(
    file: FileSource, filename: str | None, key: str | None, options: BatchOptions
) -> Call[Batch]:
    """A CSV or JSONL file; a name ending in `.jsonl` or `.ndjson` makes it JSONL."""
    return Call(
        "POST",
        "/v1/batches",
        as_model(Batch),
        True,
        form=form_fields(options),
        upload=Upload.of(file, filename, "batch.csv"),
        headers=keyed(key or new_idempotency_key()),
    )


def get_batch(batch_id: str) -> Call[Batch]:
    return Call("GET", f"/v1/batches/{segment(batch_id)}", as_model(Batch), True)


def list_batches(limit: int, cursor: str | None, filters: Mapping[str, Any]) -> Call[BatchPage]:
    params = query({"limit": limit, "cursor": cursor, **filters})
    return Call("GET", "/v1/batches", as_model(BatchPage), True, params)


def cancel_batch(batch_id: str) -> Call[Batch]:
    # Cancelling twice is cancelling once.
    return Call("POST", f"/v1/batches/{segment(batch_id)}/cancel", as_model(Batch), True)


def delete_batch(batch_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/batches/{segment(batch_id)}", as_none, True)


def batch_results(batch_id: str) -> Call[None]:
    """Streamed (JSONL): the clients read it line by line rather than through `parse`."""
    path = f"/v1/batches/{segment(batch_id)}/results"
    return Call("GET", path, as_none, True, {"format": "jsonl"})


# Reviews and explanations


def create_review(job_id: str, label: str, face: int | None, note: str) -> Call[Review]:
    body = {"label": label, "face": face, "note": note}
    path = f"/v1/jobs/{segment(job_id)}/reviews"
    # Not resendable: reviews are never edited, a lost answer would record a second one.
    return Call("POST", path, as_model(Review), False, json=body)


def _reviews(response: httpx.Response) -> list[Review]:
    return ReviewList.model_validate_json(checked(response).content).items


def list_reviews(job_id: str) -> Call[list[Review]]:
    return Call("GET", f"/v1/jobs/{segment(job_id)}/reviews", _reviews, True)


def export_reviews(format: ExportFormat) -> Call[None]:
    """Streamed: the clients write it to a file, or read its JSONL lines."""
    return Call("GET", "/v1/reviews/export", as_none, True, {"format": format})


def request_explanation(job_id: str) -> Call[Explanation]:
    # Asking again answers the explanation there is (200), or asks anew for a failed one.
    path = f"/v1/jobs/{segment(job_id)}/explanations"
    return Call("POST", path, as_model(Explanation), True)


def get_explanation(job_id: str) -> Call[Explanation]:
    path = f"/v1/jobs/{segment(job_id)}/explanations"
    return Call("GET", path, as_model(Explanation), True)


def get_explanation_image(job_id: str, index: int) -> Call[bytes]:
    path = f"/v1/jobs/{segment(job_id)}/explanations/{int(index)}.png"
    return Call("GET", path, as_bytes, True)


# Webhooks


def create_webhook(
    url: str, event_types: Sequence[str], description: str | None
) -> Call[WebhookWithSecret]:
    body: dict[str, Any] = {"url": url, "event_types": list(event_types)}
    if description is not None:
        body["description"] = description
    # Not resendable: a lost answer would register a second endpoint.
    return Call("POST", "/v1/webhooks", as_model(WebhookWithSecret), False, json=body)


def list_webhooks() -> Call[list[Webhook]]:
    return Call("GET", "/v1/webhooks", as_models(Webhook), True)


def get_webhook(webhook_id: str) -> Call[Webhook]:
    return Call("GET", f"/v1/webhooks/{segment(webhook_id)}", as_model(Webhook), True)


def delete_webhook(webhook_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/webhooks/{segment(webhook_id)}", as_none, True)


def enable_webhook(webhook_id: str) -> Call[Webhook]:
    return Call("POST", f"/v1/webhooks/{segment(webhook_id)}/enable", as_model(Webhook), True)


def rotate_webhook_secret(webhook_id: str) -> Call[WebhookWithSecret]:
    path = f"/v1/webhooks/{segment(webhook_id)}/rotate-secret"
    # Not resendable: a second rotation would push the first new secret out.
    return Call("POST", path, as_model(WebhookWithSecret), False)


def get_callback_secret() -> Call[CallbackSecret]:
    return Call("GET", "/v1/webhooks/callback-secret", as_model(CallbackSecret), True)


def rotate_callback_secret() -> Call[CallbackSecret]:
    path = "/v1/webhooks/callback-secret/rotate"
    return Call("POST", path, as_model(CallbackSecret), False)


def list_deliveries(
    endpoint_id: str | None, job_id: str | None, status: str | None, limit: int
) -> Call[list[Delivery]]:
    params = query({"endpoint_id": endpoint_id, "job_id": job_id, "status": status, "limit": limit})
    return Call("GET", "/v1/webhooks/deliveries", as_models(Delivery), True, params)


def get_delivery(delivery_id: str) -> Call[DeliveryDetail]:
    path = f"/v1/webhooks/deliveries/{segment(delivery_id)}"
    return Call("GET", path, as_model(DeliveryDetail), True)


def redeliver(delivery_id: str) -> Call[Delivery]:
    path = f"/v1/webhooks/deliveries/{segment(delivery_id)}/redeliver"
    # A second redelivery while the first runs is refused (409 delivery_pending).
    return Call("POST", path, as_model(Delivery), True)
