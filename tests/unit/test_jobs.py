import pytest

from storage.jobs import TRANSITIONS, JobStatus, allowed_sources, new_job_id


def test_terminal_states_have_no_way_out() -> None:
    for status in JobStatus:
        assert (TRANSITIONS[status] == frozenset()) == status.terminal


@pytest.mark.parametrize(
    ("target", "sources"),
    [
        (JobStatus.FETCHING, {JobStatus.QUEUED, JobStatus.FETCHING}),
        (JobStatus.INFERRING, {JobStatus.QUEUED, JobStatus.FETCHING, JobStatus.INFERRING}),
        # A micro-batch ends a job in one write, from wherever it stood.
        (JobStatus.SUCCEEDED, {JobStatus.QUEUED, JobStatus.FETCHING, JobStatus.INFERRING}),
        (
            JobStatus.FAILED,
            {JobStatus.QUEUED, JobStatus.FETCHING, JobStatus.INFERRING},
        ),
        (JobStatus.QUEUED, set()),
    ],
)
def test_allowed_sources(target: JobStatus, sources: set[JobStatus]) -> None:
    assert set(allowed_sources(target)) == sources


def test_no_job_moves_backwards_to_fetching_after_inference() -> None:
    assert JobStatus.FETCHING not in TRANSITIONS[JobStatus.INFERRING]
    assert JobStatus.SUCCEEDED not in TRANSITIONS[JobStatus.FAILED]


def test_job_ids_are_random_and_long() -> None:
    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(job_id) >= 20 and job_id.startswith("job_") for job_id in ids)
