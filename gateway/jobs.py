"""Creating jobs: resolve the options, record the job, then enqueue its ID (never a payload)."""

import json
import logging
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from pydantic import ValidationError
from tritonclient.utils import InferenceServerException

from gateway.errors import ApiError
from gateway.models import ModelCatalog
from gateway.producer import TaskSender
from gateway.quota import OpenJobsQuota
from gateway.schemas import JobOptions
from gateway.settings import Settings
from storage.errors import ErrorCode
from storage.imageformat import sniff_format
from storage.job_repository import JobRepository
from storage.jobs import Job, JobError, ModelRef, SourceKind, TaskName, Thresholds
from storage.netguard import validate_url
from storage.objects import ObjectStore

logger = logging.getLogger(__name__)


@dataclass
class Submitter:
    settings: Settings
    jobs: JobRepository
    objects: ObjectStore
    tasks: TaskSender
    catalog: ModelCatalog
    quota: OpenJobsQuota

    async def submit_url(self, image_url: str, options: JobOptions, tenant_id: str) -> Job:
        validate_url(image_url, max_length=self.settings.max_url_length)
        job = await self._new_job(options, tenant_id, source=SourceKind.URL, image_url=image_url)
        async with self.quota.holding(tenant_id, 1):
            await self._record_and_enqueue(job, TaskName.FETCH_IMAGES)
        return job

    async def submit_upload(self, content: bytes, options: JobOptions, tenant_id: str) -> Job:
        limit = self.settings.max_upload_bytes
        if len(content) > limit:
            raise ApiError(413, ErrorCode.PAYLOAD_TOO_LARGE, f"the file exceeds {limit} bytes")
        detected = sniff_format(content[:16])
        if detected is None:
            raise ApiError(
                415,
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                "the file is not a JPEG, PNG, GIF, WebP or BMP image",
            )
        job = await self._new_job(options, tenant_id, source=SourceKind.UPLOAD)
        # Reserved before the image is stored: a refused job leaves nothing behind.
        async with self.quota.holding(tenant_id, 1):
            job.image = await anyio.to_thread.run_sync(
                self.objects.put_image, content, detected.media_type, tenant_id
            )
            await self._record_and_enqueue(job, TaskName.JUDGE_IMAGES)
        return job

    async def _new_job(self, options: JobOptions, tenant_id: str, **fields: Any) -> Job:
        """Every check that can fail happens here, before anything is stored."""
        self._check_metadata(options.metadata)
        if options.callback_url is not None:
            validate_url(options.callback_url, max_length=self.settings.max_url_length)
        return Job(
            tenant_id=tenant_id,
            metadata=options.metadata,
            model=await self._resolve_model(options),
            thresholds=self._resolve_thresholds(options),
            mode=options.mode,
            callback_url=options.callback_url,
            **fields,
        )

    async def resolve(self, options: JobOptions) -> tuple[ModelRef, Thresholds]:
        """The model and thresholds a job with these options runs with."""
        return await self._resolve_model(options), self._resolve_thresholds(options)

    def _check_metadata(self, metadata: dict[str, Any]) -> None:
        size = len(json.dumps(metadata, separators=(",", ":"), default=str))
        limit = self.settings.max_metadata_bytes
        if size > limit:
            raise ApiError(
                422,
                ErrorCode.INVALID_REQUEST,
                f"metadata is {size} bytes as JSON; at most {limit} allowed",
            )

    async def _resolve_model(self, options: JobOptions) -> ModelRef:
        if options.model is None:
            default = self.settings.triton
            return ModelRef(name=default.model_name, version=default.model_version)
        model = ModelRef(name=options.model, version=options.model_version or "")
        try:
            served = {m.name: m for m in await self.catalog.detectors()}
        except InferenceServerException:
            # Triton is away: accept, and let the worker retry until it is back.
            logger.warning("cannot check model %r: Triton unavailable", model.name)
            return model
        detector = served.get(model.name)
        if detector is None or (model.version and model.version not in detector.versions):
            available = ", ".join(f"{m.name} {list(m.versions)}" for m in served.values())
            raise ApiError(
                422,
                ErrorCode.UNKNOWN_MODEL,
                f"no detector {model.name!r} version {model.version or 'latest'!r} is served; "
                f"available: {available or 'none'}",
            )
        return model

    def _resolve_thresholds(self, options: JobOptions) -> Thresholds:
        requested = options.thresholds
        default = self.settings.verdict
        try:
            return Thresholds(
                fake=default.fake_threshold if requested is None or requested.fake is None
                else requested.fake,
                real=default.real_threshold if requested is None or requested.real is None
                else requested.real,
            )  # fmt: skip
        except ValidationError as error:
            message = "thresholds: the real threshold must not exceed the fake threshold"
            raise ApiError(422, ErrorCode.INVALID_REQUEST, message) from error

    async def _record_and_enqueue(self, job: Job, task: TaskName) -> None:
        await self.jobs.insert(job)
        try:
            await self.tasks.send(task, [[job.id]])
        except Exception as error:
            # Recorded but nobody will run it: close the job rather than leave it queued.
            logger.exception("enqueue failed for job %s", job.id)
            message = "the job queue is unavailable; submit again later"
            await self.jobs.fail(
                job.id, JobError(code=ErrorCode.SERVICE_UNAVAILABLE, message=message)
            )
            raise ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, message) from error
