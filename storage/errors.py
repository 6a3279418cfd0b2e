"""Stable error codes shared by the gateway and the workers.

A code never changes meaning once published: clients branch on it. The message is for
people and may be reworded.
"""

from enum import StrEnum


class ErrorCode(StrEnum):
    # Request errors, answered by the gateway at once.
    INVALID_REQUEST = "invalid_request"
    JOB_NOT_FOUND = "job_not_found"
    BATCH_NOT_FOUND = "batch_not_found"
    WEBHOOK_NOT_FOUND = "webhook_not_found"
    DELIVERY_NOT_FOUND = "delivery_not_found"
    DELIVERY_PENDING = "delivery_pending"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    INVALID_URL = "invalid_url"
    UNKNOWN_MODEL = "unknown_model"
    SERVICE_UNAVAILABLE = "service_unavailable"
    INTERNAL_ERROR = "internal_error"
    # Access: no valid API key, or a key without the scope the route needs.
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    # Limits per API key (request rate) and per tenant (jobs not yet finished).
    RATE_LIMITED = "rate_limited"
    TOO_MANY_OPEN_JOBS = "too_many_open_jobs"
    # `Idempotency-Key` reused with another request, or while its first request still runs.
    IDEMPOTENCY_KEY_MISMATCH = "idempotency_key_mismatch"
    IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"
    # `GET /v1/jobs/{id}/image` before a URL job's image was fetched and stored.
    IMAGE_NOT_STORED = "image_not_stored"
    # Explanations (`/v1/jobs/{id}/explanations`): none was asked for; not computed yet.
    EXPLANATION_NOT_FOUND = "explanation_not_found"
    EXPLANATION_NOT_READY = "explanation_not_ready"
    # A review or an explanation asked of a job with no result (not finished, or failed).
    JOB_NOT_JUDGED = "job_not_judged"

    # Job errors, recorded on a failed job by the workers.
    URL_FORBIDDEN = "url_forbidden"
    DNS_RESOLUTION_FAILED = "dns_resolution_failed"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    IMAGE_NOT_FOUND = "image_not_found"
    FETCH_REJECTED = "fetch_rejected"
    FETCH_UNAVAILABLE = "fetch_unavailable"
    IMAGE_TOO_LARGE = "image_too_large"
    UNSUPPORTED_IMAGE_FORMAT = "unsupported_image_format"
    IMAGE_TOO_MANY_PIXELS = "image_too_many_pixels"
    IMAGE_DECODE_FAILED = "image_decode_failed"
    IMAGE_MISSING = "image_missing"
    INFERENCE_UNAVAILABLE = "inference_unavailable"
    INFERENCE_FAILED = "inference_failed"
    # The job's task was given back by a lost worker (its process died: out of memory, a
    # crash) more often than `WORKER_MAX_LOST_DELIVERIES`: the job is not tried again.
    WORKER_LOST = "worker_lost"
    # The model takes too few inputs per request to judge a crop and its occluded copies
    # in one request: no explanation is computed.
    EXPLANATION_UNSUPPORTED = "explanation_unsupported"
    # A batch was cancelled while this job was still queued.
    CANCELLED = "cancelled"

    # Batch row errors, recorded on a batch for rows that did not become jobs.
    ROW_TOO_LONG = "row_too_long"
    FIELD_TOO_LONG = "field_too_long"
    INVALID_ENCODING = "invalid_encoding"
    # A batch whose file could not be read to its end: the rest of its rows were not read.
    BATCH_UNREADABLE = "batch_unreadable"


class ServiceError(Exception):
    """An error that carries a stable code; `transient` ones are worth retrying."""

    transient = False

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PermanentError(ServiceError):
    """Retrying cannot help: the job fails at once with this code."""


class TransientError(ServiceError):
    """The cause may pass (timeouts, 5xx, a server restarting): retry with backoff."""

    transient = True
