"""Pure parts of the reconciler and of the model probe."""

import numpy as np
import pytest

from storage.jobs import ImageRef, Job, JobStatus, SourceKind, TaskName
from storage.model_probe import probe_inputs
from worker.reconciler import next_task

IMAGE = ImageRef(sha256="ab" * 32, object_key="images/default/ab/x", size_bytes=3)


@pytest.mark.parametrize(
    ("source", "status", "image", "task"),
    [
        (SourceKind.URL, JobStatus.QUEUED, None, TaskName.FETCH_IMAGE),
        (SourceKind.URL, JobStatus.FETCHING, None, TaskName.FETCH_IMAGE),
        (SourceKind.URL, JobStatus.INFERRING, IMAGE, TaskName.RUN_INFERENCE),
        (SourceKind.UPLOAD, JobStatus.QUEUED, IMAGE, TaskName.RUN_INFERENCE),
        (SourceKind.UPLOAD, JobStatus.INFERRING, IMAGE, TaskName.RUN_INFERENCE),
    ],
)
def test_a_stuck_job_goes_to_the_task_that_moves_it_on(
    source: SourceKind, status: JobStatus, image: ImageRef | None, task: TaskName
) -> None:
    job = Job(source=source, status=status, image=image, image_url="https://example.com/a.jpg")
    assert next_task(job) is task


def test_the_probe_fills_every_input_with_zeros_and_a_batch_of_one() -> None:
    metadata = {
        "inputs": [
            {"name": "image", "datatype": "UINT8", "shape": ["-1", "256", "256", "3"]},
            {"name": "scale", "datatype": "FP32", "shape": ["2"]},
        ]
    }
    (image, scale) = probe_inputs(metadata)
    assert image[:2] == ("image", "UINT8")
    assert image[2].shape == (1, 256, 256, 3)
    assert image[2].dtype == np.uint8
    assert not image[2].any()
    assert scale[2].shape == (2,)
    assert scale[2].dtype == np.float32


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"inputs": []},
        {"inputs": [{"name": "text", "datatype": "BYTES", "shape": ["-1"]}]},
    ],
)
def test_a_model_no_probe_can_fill_is_refused(metadata: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="input"):
        probe_inputs(metadata)
