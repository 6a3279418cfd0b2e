"""The synchronous client's reviewer methods: labels, the labelled set and explanations.

`DetectionClient` has them all; they live here to keep each module short.
"""

import time
from collections.abc import Iterator
from pathlib import Path

from deepfake_client import routes
from deepfake_client.polling import ExplanationWait
from deepfake_client.review_models import Explanation, Review, ReviewRow
from deepfake_client.routes import ExportFormat
from deepfake_client.transport import SyncTransport


class ReviewMethods(SyncTransport):
    # Reviews

    def create_review(
        self, job_id: str, label: str, *, face: int | None = None, note: str = ""
    ) -> Review:
        """Record a label (`fake`, `real` or `unsure`) for the image, or for one face
        (`face`: its index in `result.faces`), with a note of up to 2,000 characters."""
        return self.send(routes.create_review(job_id, label, face, note))

    def list_reviews(self, job_id: str) -> list[Review]:
        """The job's reviews, newest first."""
        return self.send(routes.list_reviews(job_id))

    def export_reviews(self, path: str | Path, *, format: ExportFormat = "jsonl") -> Path:
        """The labelled set (the latest label of each reviewed job and face) streamed to
        `path`: a JSONL or CSV manifest, or a zip with `manifest.jsonl` and the images."""
        return self.download(routes.export_reviews(format), path)

    def iter_review_rows(self) -> Iterator[ReviewRow]:
        """The labelled set's rows, streamed as the server writes them."""
        for line in self.stream_lines(routes.export_reviews("jsonl")):
            yield ReviewRow.model_validate_json(line)

    # Explanations

    def request_explanation(self, job_id: str) -> Explanation:
        """Ask for the occlusion map of each face of a succeeded job: `pending` when newly
        asked for, else the one there is (a failed one is asked for again)."""
        return self.send(routes.request_explanation(job_id))

    def get_explanation(self, job_id: str) -> Explanation:
        return self.send(routes.get_explanation(job_id))

    def wait_explanation(self, job_id: str, *, timeout_s: float = 120.0) -> Explanation:
        """The explanation once it is ready or failed, read at a growing delay;
        `JobTimeout` after `timeout_s`."""
        waiting = ExplanationWait(job_id, timeout_s)
        while True:
            explanation = self.get_explanation(job_id)
            delay = waiting.after(explanation)
            if delay is None:
                return explanation
            time.sleep(delay)

    def get_explanation_image(self, job_id: str, index: int) -> bytes:
        """One face's overlay (PNG): the heat map over the face crop the model saw."""
        return self.send(routes.get_explanation_image(job_id, index))
