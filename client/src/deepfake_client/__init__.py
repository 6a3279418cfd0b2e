"""Typed client for the deepfake detection service (on httpx and pydantic)."""

from deepfake_client.async_client import AsyncDetectionClient
from deepfake_client.calls import BatchFilters, BatchOptions, JobFilters, JobOptions
from deepfake_client.client import DetectionClient
from deepfake_client.errors import (
    ApiError,
    ClientError,
    Conflict,
    Forbidden,
    InvalidRequest,
    JobTimeout,
    NotFound,
    RateLimited,
    ServerError,
    ServerUnavailable,
    TransportError,
    Unauthorized,
)
from deepfake_client.models import (
    Batch,
    BatchPage,
    BatchResult,
    CallbackSecret,
    Delivery,
    DeliveryDetail,
    Job,
    JobPage,
    Model,
    Provenance,
    ReviewSummary,
    Webhook,
    WebhookWithSecret,
)
from deepfake_client.retry import NO_RETRIES, RetryPolicy
from deepfake_client.review_models import ExplainedFace, Explanation, Review, ReviewRow
from deepfake_client.routes import BatchItem, ExportFormat
from deepfake_client.version import __version__
from deepfake_client.webhooks import (
    WebhookEvent,
    WebhookVerificationError,
    sign_webhook,
    verify_webhook,
)

__all__ = [
    "NO_RETRIES",
    "ApiError",
    "AsyncDetectionClient",
    "Batch",
    "BatchFilters",
    "BatchItem",
    "BatchOptions",
    "BatchPage",
    "BatchResult",
    "CallbackSecret",
    "ClientError",
    "Conflict",
    "Delivery",
    "DeliveryDetail",
    "DetectionClient",
    "ExplainedFace",
    "Explanation",
    "ExportFormat",
    "Forbidden",
    "InvalidRequest",
    "Job",
    "JobFilters",
    "JobOptions",
    "JobPage",
    "JobTimeout",
    "Model",
    "NotFound",
    "Provenance",
    "RateLimited",
    "RetryPolicy",
    "Review",
    "ReviewRow",
    "ReviewSummary",
    "ServerError",
    "ServerUnavailable",
    "TransportError",
    "Unauthorized",
    "Webhook",
    "WebhookEvent",
    "WebhookVerificationError",
    "WebhookWithSecret",
    "__version__",
    "sign_webhook",
    "verify_webhook",
]
