"""The asynchronous client's reviewer methods: those of `reviews.ReviewMethods`, awaited."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from deepfake_client import routes
from deepfake_client.async_transport import AsyncTransport
from deepfake_client.polling import ExplanationWait
from deepfake_client.review_models import Explanation, Review, ReviewRow
from deepfake_client.routes import ExportFormat


class AsyncReviewMethods(AsyncTransport):
    # Reviews

    async def create_review(
        self, job_id: str, label: str, *, face: int | None = None, note: str = ""
    ) -> Review:
        """Record a label (`fake`, `real` or `unsure`) for the image, or for one face
        (`face`: its index in `result.faces`), with a note of up to 2,000 characters."""
        return await self.send(routes.create_review(job_id, label, face, note))

    async def list_reviews(self, job_id: str) -> list[Review]:
        """The job's reviews, newest first."""
        return await self.send(routes.list_reviews(job_id))

    async def export_reviews(self, path: str | Path, *, format: ExportFormat = "jsonl") -> Path:
        """The labelled set streamed to `path`: a JSONL or CSV manifest, or a zip."""
        return await self.download(routes.export_reviews(format), path)

    async def iter_review_rows(self) -> AsyncIterator[ReviewRow]:
        """The labelled set's rows, streamed as the server writes them."""
        async for line in self.stream_lines(routes.export_reviews("jsonl")):
            yield ReviewRow.model_validate_json(line)

    # Explanations

    async def request_explanation(self, job_id: str) -> Explanation:
        """Ask for the occlusion map of each face of a succeeded job."""
        return await self.send(routes.request_explanation(job_id))

    async def get_explanation(self, job_id: str) -> Explanation:
        return await self.send(routes.get_explanation(job_id))

    async def wait_explanation(self, job_id: str, *, timeout_s: float = 120.0) -> Explanation:
        """The explanation once it is ready or failed; `JobTimeout` after `timeout_s`."""
        waiting = ExplanationWait(job_id, timeout_s)
        while True:
            explanation = await self.get_explanation(job_id)
            delay = waiting.after(explanation)
            if delay is None:
                return explanation
            await asyncio.sleep(delay)

    async def get_explanation_image(self, job_id: str, index: int) -> bytes:
        """One face's overlay (PNG): the heat map over the face crop the model saw."""
        return await self.send(routes.get_explanation_image(job_id, index))
