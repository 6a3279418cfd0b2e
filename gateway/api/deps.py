"""Dependencies handed to routes; the lifespan creates what they return."""

from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as aioredis
import tritonclient.grpc.aio as triton_aio
from fastapi import Depends, Request

from gateway.batches import BatchSubmitter
from gateway.errors import ApiError
from gateway.job_ends import JobEndWatcher
from gateway.jobs import Submitter
from gateway.models import ModelCatalog
from gateway.producer import TaskSender
from gateway.quota import OpenJobsQuota
from gateway.settings import Settings
from storage.batch_repository import BatchRepository
from storage.errors import ErrorCode
from storage.job_repository import JobRepository
from storage.jobs import Job
from storage.objects import ObjectStore
from storage.retention import Purger
from storage.review_repository import ReviewRepository
from storage.webhook_repository import WebhookRepository


@dataclass
class Clients:
    settings: Settings
    jobs: JobRepository
    webhooks: WebhookRepository
    batches: BatchRepository
    reviews: ReviewRepository
    objects: ObjectStore
    tasks: TaskSender
    redis: aioredis.Redis
    triton: triton_aio.InferenceServerClient
    catalog: ModelCatalog
    purger: Purger
    quota: OpenJobsQuota
    job_ends: JobEndWatcher

    @property
    def submitter(self) -> Submitter:
        return Submitter(
            self.settings, self.jobs, self.objects, self.tasks, self.catalog, self.quota
        )

    @property
    def batch_submitter(self) -> BatchSubmitter:
        return BatchSubmitter(
            self.submitter, self.jobs, self.batches, self.webhooks, self.tasks, self.objects
        )


def get_clients(request: Request) -> Clients:
    clients: Clients = request.app.state.clients
    return clients


def get_settings(request: Request) -> Settings:
    return get_clients(request).settings


def get_jobs(request: Request) -> JobRepository:
    return get_clients(request).jobs


def get_webhooks(request: Request) -> WebhookRepository:
    return get_clients(request).webhooks


ClientsDep = Annotated[Clients, Depends(get_clients)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
JobsDep = Annotated[JobRepository, Depends(get_jobs)]
WebhooksDep = Annotated[WebhookRepository, Depends(get_webhooks)]


async def owned_job(jobs: JobRepository, job_id: str, tenant_id: str) -> Job:
    """The tenant's job; 404 `job_not_found` for another tenant's job exactly as for one
    that does not exist."""
    job = await jobs.get(job_id) if len(job_id) <= 64 else None
    if job is None or job.tenant_id != tenant_id:
        raise ApiError(404, ErrorCode.JOB_NOT_FOUND, f"no job with id {job_id!r}")
    return job
