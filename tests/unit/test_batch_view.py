"""What `GET /v1/batches/{id}` shows of a batch whose reading stopped early."""

from gateway.batch_schemas import BatchOut
from storage.batch_repository import Batch
from storage.errors import ErrorCode
from storage.jobs import JobError


def test_a_batch_that_could_not_be_read_shows_why() -> None:
    error = JobError(code=ErrorCode.BATCH_UNREADABLE, message="reading failed 3 times")
    batch = Batch(total=2, sealed=True, error=error)

    shown = BatchOut.from_batch(batch, {"succeeded": 2})

    assert shown.error == error
    assert shown.progress == 1.0


def test_a_batch_read_whole_shows_no_error() -> None:
    assert BatchOut.from_batch(Batch(), {}).error is None
