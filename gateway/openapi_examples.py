"""Examples of the answers a client reads most, as they look; the OpenAPI description
builds the others from their schemas (gateway.openapi)."""

from typing import Any

_JOB_ID = "job_x2JdVq1Zl0r8mH0m2yQd6A"
_BATCH_ID = "bat_Q3v8hJ2sXl9Kc0a1Bn4mZw"
_AT = "2026-12-06T10:00:00Z"
_DONE_AT = "2026-12-06T10:00:01Z"

RESOURCE_EXAMPLES: dict[str, Any] = {
    "WebhookCreate": {
        "url": "https://hooks.example.com/deepfake-events",
        "event_types": ["job.succeeded", "job.failed", "batch.completed"],
        "description": "moderation queue",
    },
    "JobOut": {
        "id": _JOB_ID,
        "status": "succeeded",
        "source": "url",
        "image_url": "https://images.example.com/upload/42.jpg",
        "image": {"sha256": "9f2c" * 16, "size_bytes": 48213, "content_type": "image/jpeg"},
        "metadata": {"post_id": "p_9f2c"},
        "model": {"name": "deepfake_detector", "version": "1"},
        "thresholds": {"fake": 0.7, "real": 0.3},
        "mode": "faces",
        "created_at": _AT,
        "updated_at": _DONE_AT,
        "timestamps": {"queued": _AT, "succeeded": _DONE_AT},
        "result": {
            "fake_probability": 0.97,
            "verdict": "fake",
            "mode": "faces",
            "faces": [
                {
                    "box": [112, 64, 298, 250],
                    "detection_score": 0.93,
                    "fake_probability": 0.97,
                    "verdict": "fake",
                }
            ],
            "model_name": "deepfake_detector",
            "model_version": "1",
            "face_detector": "face_detector:1",
            "reused_from": None,
        },
        "error": None,
        "callback_url": None,
        "links": {"self": f"/v1/jobs/{_JOB_ID}"},
    },
    "BatchOut": {
        "id": _BATCH_ID,
        "reading": False,
        "rows_read": 3,
        "total": 2,
        "invalid_rows": 1,
        "row_errors": [{"row": 3, "code": "invalid_url", "message": "not an http(s) URL"}],
        "counts": {"queued": 0, "fetching": 0, "inferring": 1, "succeeded": 1, "failed": 0},
        "progress": 0.5,
        "error": None,
        "cancelled_at": None,
        "completed_at": None,
        "created_at": _AT,
        "results": f"/v1/batches/{_BATCH_ID}/results",
    },
}
