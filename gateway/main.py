"""The FastAPI application: `uvicorn gateway.main:app`."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
import redis.asyncio as aioredis
import tritonclient.grpc.aio as triton_aio
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from gateway.api.deps import Clients
from gateway.api.routes import (
    batch_listing,
    batches,
    console,
    explanations,
    health,
    job_images,
    job_listing,
    jobs,
    models,
    reviews,
    webhooks,
)
from gateway.auth import authorize_submission, open_access
from gateway.errors import install_error_handlers
from gateway.idempotency import Idempotency
from gateway.internal import serving_internal
from gateway.job_ends import JobEndWatcher
from gateway.limits import BodySizeLimit
from gateway.metrics import GatewayMetrics, MetricsMiddleware
from gateway.models import ModelCatalog
from gateway.openapi import install_openapi, operation_id
from gateway.producer import TaskSender, create_producer
from gateway.quota import OpenJobsQuota, unread_batch_rows
from gateway.settings import Settings, get_settings
from storage.api_key_repository import Document
from storage.batch_repository import BatchRepository
from storage.explanation_repository import ExplanationRepository
from storage.job_repository import JobRepository, create_mongo_client
from storage.objects import ObjectStore
from storage.retention import Purger
from storage.review_repository import ReviewRepository
from storage.webhook_repository import WebhookRepository

logger = logging.getLogger(__name__)

# Multipart framing around an upload of exactly the allowed size.
_MULTIPART_OVERHEAD_BYTES = 64 * 1024


async def _count_open(jobs: JobRepository, database: AsyncDatabase[Document], tenant: str) -> int:
    return await jobs.count_open(tenant) + await unread_batch_rows(database, tenant)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mongo = create_mongo_client(settings.mongo)
        database = mongo[settings.mongo.database]
        jobs_repository = JobRepository(mongo[settings.mongo.database])
        objects = ObjectStore(settings.object_store)
        webhooks_repository = WebhookRepository(mongo[settings.mongo.database])
        await jobs_repository.ensure_indexes()
        await webhooks_repository.ensure_indexes()
        batches_repository = BatchRepository(mongo[settings.mongo.database])
        await batches_repository.ensure_indexes()
        reviews_repository = ReviewRepository(database)
        await reviews_repository.ensure_indexes()
        app.state.explanations = ExplanationRepository(database)
        await app.state.explanations.ensure_indexes()
        await anyio.to_thread.run_sync(objects.ensure_bucket)
        # Blocking: past the pool's connections a request waits its turn rather than failing.
        redis = aioredis.Redis.from_pool(
            aioredis.BlockingConnectionPool.from_url(
                settings.celery.broker_url.get_secret_value(), max_connections=100, timeout=5
            )
        )
        app.state.access = await open_access(settings, mongo[settings.mongo.database], redis)
        triton = triton_aio.InferenceServerClient(url=settings.triton.url)
        app.state.clients = Clients(
            settings=settings,
            jobs=jobs_repository,
            webhooks=webhooks_repository,
            batches=batches_repository,
            reviews=reviews_repository,
            objects=objects,
            tasks=TaskSender(create_producer(settings)),
            redis=redis,
            triton=triton,
            catalog=ModelCatalog(triton, settings.models_cache_s),
            quota=OpenJobsQuota(
                redis,
                lambda tenant: _count_open(jobs_repository, database, tenant),
                limit=settings.max_open_jobs,
                max_age_s=settings.open_jobs_cache_s,
            ),
            purger=Purger(
                mongo[settings.mongo.database],
                lambda keys: anyio.to_thread.run_sync(objects.delete_images, keys),
            ),
            job_ends=JobEndWatcher(redis),
        )
        app.state.clients.job_ends.start()
        app.state.readiness = health.readiness(app.state.clients)
        try:
            async with serving_internal(app, settings.internal):
                yield
        finally:
            await app.state.clients.job_ends.stop()
            await triton.close()
            await redis.aclose()
            await mongo.close()

    app = FastAPI(
        title="Deepfake detection service",
        version="0.1.0",
        description="Submit images, get the probability that each was manipulated.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    install_error_handlers(app)
    # Inside the body-size limit: what it spools has already passed the limit.
    app.add_middleware(
        Idempotency,
        paths={"/v1/jobs", "/v1/batches"},
        ttl_s=settings.idempotency_ttl_s,
        lease_s=settings.idempotency_lease_s,
        redis=lambda scope: scope["app"].state.clients.redis,
        authorize=authorize_submission,
    )
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_upload_bytes + _MULTIPART_OVERHEAD_BYTES,
        # Batch files are streamed to a spooled file, never held whole: a larger cap.
        path_limits={"/v1/batches": settings.max_batch_upload_bytes + _MULTIPART_OVERHEAD_BYTES},
        json_max_bytes=settings.max_json_body_bytes,
    )
    # Outermost: times whole requests and counts what the limits refuse too.
    app.state.metrics = GatewayMetrics(settings.metrics)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics, routes=app.router.routes)
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(job_listing.router)
    app.include_router(job_images.router)
    app.include_router(explanations.router)
    app.include_router(reviews.router)
    app.include_router(models.router)
    app.include_router(webhooks.router)
    app.include_router(batch_listing.router)
    app.include_router(batches.router)
    app.include_router(console.router)
    install_openapi(app)
    # `/metrics` is served on the internal port only (gateway.internal).
    return app


app = create_app()
