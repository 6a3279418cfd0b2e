"""The labelled set for retraining: the latest review of each job and face, streamed.

JSONL and CSV are manifests (one row per label); the zip holds `manifest.jsonl` and each
labelled image once, under `images/<sha256>.<ext>`, the path the rows name. Jobs are read a
chunk at a time and the zip goes out as it is written (one image in memory at a time; the
manifest, a few hundred bytes a label, is written last).
"""

import csv
import io
import json
import zipfile
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio.to_thread

from gateway.csv_cells import safe_row
from storage.errors import PermanentError
from storage.job_repository import JobRepository
from storage.jobs import ImageRef, Job
from storage.review_repository import Review, model_verdict

COLUMNS = (
    "job_id",
    "external_id",
    "batch_id",
    "image",
    "sha256",
    "content_type",
    "face",
    "box",
    "label",
    "note",
    "reviewer",
    "reviewed_at",
    "agreement",
    "model_name",
    "model_version",
    "model_verdict",
    "fake_probability",
)
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}
_CHUNK = 200

Row = dict[str, Any]


def image_path(image: ImageRef | None) -> str | None:
    if image is None:
        return None
    return f"images/{image.sha256}.{_EXTENSIONS.get(image.content_type or '', 'bin')}"


def row(review: Review, job: Job) -> Row:
    result = job.result
    face = None
    if result is not None and review.face is not None and review.face < len(result.faces):
        face = result.faces[review.face]
    verdict = model_verdict(result, review.face)
    probability = face.fake_probability if face is not None else None
    if review.face is None and result is not None:
        probability = result.fake_probability
    return {
        "job_id": job.id,
        "external_id": job.external_id,
        "batch_id": job.batch_id,
        "image": image_path(job.image),
        "sha256": None if job.image is None else job.image.sha256,
        "content_type": None if job.image is None else job.image.content_type,
        "face": review.face,
        "box": None if face is None else list(face.box),
        "label": review.label.value,
        "note": review.note,
        "reviewer": review.reviewer,
        "reviewed_at": review.created_at.isoformat(),
        "agreement": review.agreement.value,
        "model_name": None if result is None else result.model_name,
        "model_version": None if result is None else result.model_version,
        "model_verdict": None if verdict is None else verdict.value,
        "fake_probability": probability,
    }


async def labelled(
    reviews: AsyncIterator[Review], jobs: JobRepository
) -> AsyncIterator[tuple[Row, Job]]:
    """Each review with its job, read a chunk of jobs at a time; a job deleted meanwhile
    drops out."""
    chunk: list[Review] = []

    async def flush() -> list[tuple[Row, Job]]:
        found = await jobs.get_many(list({review.job_id for review in chunk}), whole=True)
        return [(row(r, found[r.job_id]), found[r.job_id]) for r in chunk if r.job_id in found]

    async for review in reviews:
        chunk.append(review)
        if len(chunk) >= _CHUNK:
            for item in await flush():
                yield item
            chunk = []
    if chunk:
        for item in await flush():
            yield item


async def jsonl(items: AsyncIterator[tuple[Row, Job]]) -> AsyncIterator[str]:
    async for item, _ in items:
        yield json.dumps(item, separators=(",", ":")) + "\n"


async def csv_text(items: AsyncIterator[tuple[Row, Job]]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    async for item, _ in items:
        box = item["box"]
        writer.writerow(safe_row({**item, "box": "" if box is None else " ".join(map(str, box))}))
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


class _Sink(io.RawIOBase):
    """Where the zip is written: bytes taken out as they come (not seekable, so zipfile
    writes data descriptors instead of seeking back)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        taken = b"".join(self._parts)
        self._parts.clear()
        return taken


async def zipped(
    items: AsyncIterator[tuple[Row, Job]], read_image: Callable[[ImageRef], bytes]
) -> AsyncIterator[bytes]:
    """`manifest.jsonl` and every labelled image once; an image already deleted (retention)
    is left out and its rows say so (`image`: null)."""
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED)
    manifest: list[str] = []
    written: dict[str, bool] = {}
    async for item, job in items:
        sha256 = item["sha256"]
        if job.image is not None and sha256 not in written:
            written[sha256] = await _add_image(archive, item["image"], job.image, read_image)
        if sha256 is not None and not written.get(sha256):
            item = {**item, "image": None}
        manifest.append(json.dumps(item, separators=(",", ":")) + "\n")
        yield sink.take()
    archive.writestr("manifest.jsonl", "".join(manifest))
    archive.close()
    yield sink.take()


async def _add_image(
    archive: zipfile.ZipFile, path: str, image: ImageRef, read_image: Callable[[ImageRef], bytes]
) -> bool:
    try:
        content = await anyio.to_thread.run_sync(read_image, image)
    except PermanentError:  # deleted by retention: the rows say so
        return False
    archive.writestr(path, content)
    return True
