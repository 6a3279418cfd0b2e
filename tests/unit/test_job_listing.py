"""Cursors and filters of `GET /v1/jobs` (the queries run on real servers in the e2e tier)."""

from datetime import UTC, datetime

import pytest

from storage.job_listing import (
    INDEXED_FIELDS,
    CursorError,
    JobFilter,
    decode_cursor,
    encode_cursor,
)
from storage.jobs import Job, JobStatus, SourceKind, Verdict


def test_a_cursor_names_the_last_job_of_a_page() -> None:
    job = Job(source=SourceKind.UPLOAD, created_at=datetime(2026, 12, 6, 13, 0, 0, 123000, UTC))
    assert decode_cursor(encode_cursor(job.created_at, job.id)) == (job.created_at, job.id)


@pytest.mark.parametrize(
    "cursor", ["", "not-a-cursor", "%%%", "MjAyNg", "bm8gYmFyIGhlcmU", "MjAyNi0xMi0wNnxqb2I"]
)
def test_a_cursor_this_service_did_not_make_is_refused(cursor: str) -> None:
    with pytest.raises(CursorError):
        decode_cursor(cursor)


def test_filters_become_one_query_within_the_tenant() -> None:
    after = datetime(2026, 12, 1, tzinfo=UTC)
    query = JobFilter(
        status=JobStatus.SUCCEEDED,
        verdict=Verdict.FAKE,
        metadata=("post", "p1"),
        created_after=after,
    ).query("acme")
    assert query == {
        "tenant_id": "acme",
        "status": "succeeded",
        "result.verdict": "fake",
        "metadata.post": "p1",
        "created_at": {"$gte": after},
    }
    assert JobFilter().query("acme") == {"tenant_id": "acme"}


@pytest.mark.parametrize(
    "job_filter",
    [
        JobFilter(status=JobStatus.FAILED),
        JobFilter(verdict=Verdict.REAL),
        JobFilter(model="mesonet"),
        JobFilter(batch_id="bat_1"),
        JobFilter(external_id="post-1"),
        JobFilter(reviewed=True),
        JobFilter(reviewed=False),
    ],
)
def test_every_indexed_filter_is_the_prefix_of_an_index_ending_in_the_order(
    job_filter: JobFilter,
) -> None:
    """MongoDB then walks one index in the listing's order and stops after a page."""
    (field,) = set(job_filter.query("acme")) - {"tenant_id"}
    assert field in INDEXED_FIELDS


def test_reviewed_matches_labelled_jobs_or_jobs_without_a_label() -> None:
    assert JobFilter(reviewed=True).query("a")["review.label"] == {
        "$in": ["fake", "real", "unsure"]
    }
    # Equality with null matches a job without `review` too, through the same index.
    assert JobFilter(reviewed=False).query("a")["review.label"] is None
