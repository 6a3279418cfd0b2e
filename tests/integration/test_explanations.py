"""Occlusion explanations computed in this process against the real servers: where the map
of a deepfake lies, what it costs Triton, and how the task ends whatever happens."""

import io
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import tritonclient.grpc as grpcclient
from celery import Task
from PIL import Image

from devstack.servers import TritonServer
from storage.errors import ErrorCode, PermanentError, TransientError
from storage.explanation_repository import PENDING_TIMEOUT, Explanation, ExplanationStatus
from storage.jobs import DetectionMode, Job, JobStatus, SourceKind, utcnow
from storage.objects import explanation_key
from storage.retention import Purger
from tests.integration.conftest import BOUND
from worker import explanations, tasks
from worker.explanation_tasks import explain_job, repository_of, run_explanation
from worker.explanations import explain_image
from worker.faces import FaceBox, square_around
from worker.runtime import Runtime

pytestmark = pytest.mark.integration

DEEPFAKES = ["df00204.jpg", "df01254.jpg"]


def _judged(runtime: Runtime, content: bytes, mode: DetectionMode = DetectionMode.FACES) -> Job:
    """An upload judged by the real scoring path."""
    runtime.objects.ensure_bucket()
    image = runtime.objects.put_image(content, "image/jpeg", "default")
    job = Job(source=SourceKind.UPLOAD, image=image, mode=mode, status=JobStatus.INFERRING)
    runtime.run(runtime.jobs.insert(job))
    tasks._judge(runtime, job)
    judged = runtime.run(runtime.jobs.get(job.id))
    assert judged is not None
    assert judged.status is JobStatus.SUCCEEDED
    return judged


def _requests(triton_server: TritonServer, model: str) -> tuple[int, int]:
    """Requests the server has answered for `model` and the inputs they carried, from its
    own statistics. Triton records a request just after answering it: read until settled."""
    client = grpcclient.InferenceServerClient(url=triton_server.grpc_url)
    try:
        counts, previous = (-1, -1), (-2, -2)
        while counts != previous:
            previous = counts
            time.sleep(0.3)
            stats: dict[str, Any] = client.get_inference_statistics(model, as_json=True)
            counts = (
                sum(
                    int(m["inference_stats"]["success"].get("count", 0))
                    for m in stats["model_stats"]
                ),
                sum(int(m.get("inference_count", 0)) for m in stats["model_stats"]),
            )
    finally:
        client.close()
    return counts


def _face_mask(
    content: bytes, box: tuple[int, int, int, int], crop_side: int, margin: float
) -> npt.NDArray[np.bool_]:
    """Which pixels of a face's crop lie inside its detector box."""
    with Image.open(io.BytesIO(content)) as image:
        width, height = image.size
    x0, y0, x1, y1 = box
    # The crop is the square around the box, stretched to the model's input.
    left, top, side = square_around(FaceBox(x0, y0, x1, y1, 0.0), margin, height, width)
    scale = crop_side / side
    mask = np.zeros((crop_side, crop_side), bool)
    ys = slice(round((y0 - top) * scale), round((y1 - top) * scale))
    xs = slice(round((x0 - left) * scale), round((x1 - left) * scale))
    mask[ys, xs] = True
    return mask


def _border(side: int, width: int) -> npt.NDArray[np.bool_]:
    """The crop's outer band: background and margin, around any face."""
    band = np.ones((side, side), bool)
    band[width:-width, width:-width] = False
    return band


def _pending(runtime: Runtime, job: Job) -> Explanation:
    assert job.result is not None
    repository = repository_of(runtime)
    runtime.run(repository.ensure_indexes())
    wanted = Explanation(
        job_id=job.id,
        tenant_id=job.tenant_id,
        model_name=job.result.model_name,
        model_version=job.result.model_version,
    )
    explanation, created = runtime.run(repository.create(wanted))
    assert created
    return explanation


def _run_task(explanation_id: str, *, redelivered: bool = False, retries: int = 0) -> None:
    """One delivery of `explain_job`, as the worker runs it."""
    task: Task = explain_job
    task.push_request(retries=retries, delivery_info={"redelivered": redelivered})
    try:
        run_explanation(task, explanation_id)
    finally:
        task.pop_request()


def _stored(runtime: Runtime, explanation_id: str) -> Explanation:
    explanation = runtime.run(repository_of(runtime).get(explanation_id))
    assert explanation is not None
    return explanation


@pytest.mark.parametrize("name", DEEPFAKES)
def test_a_deepfakes_map_lies_on_the_face_at_one_request_per_face(
    runtime: Runtime, triton_server: TritonServer, samples_dir: Path, name: str
) -> None:
    content = (samples_dir / "df" / name).read_bytes()
    job = _judged(runtime, content)
    assert job.result is not None
    model = job.result.model_name
    before = _requests(triton_server, model)

    method, maps = explain_image(content, job, runtime.detector, runtime.settings)

    # One request per face: the crop and its 49 occluded copies together.
    requests, inputs = _requests(triton_server, model)
    assert requests - before[0] == len(maps) == len(job.result.faces)
    assert inputs - before[1] == 50 * len(maps)
    assert method.grid == (7, 7)
    assert method.patch == (64, 64)
    assert method.stride == (32, 32)
    for face_map, face in zip(maps, job.result.faces, strict=True):
        # The crop scoring cut, so the score scoring gave.
        assert face_map.fake_probability == pytest.approx(face.fake_probability, abs=0.01)
        assert face_map.max_drop > 0.1
        side = face_map.sensitivity.shape[0]
        inside = _face_mask(content, face.box, side, runtime.settings.faces.crop_margin)
        on_face = float(face_map.sensitivity[inside].mean())
        # Brighter on the detector's box than anywhere else on average, and well above the
        # crop's outer band (background, shoulders, the crop margin).
        assert on_face > float(face_map.sensitivity[~inside].mean())
        assert on_face > 1.5 * float(face_map.sensitivity[_border(side, 32)].mean())


def test_the_task_stores_one_overlay_per_face_and_ends_ready(
    runtime: Runtime, samples_dir: Path
) -> None:
    job = _judged(runtime, (samples_dir / "df" / DEEPFAKES[0]).read_bytes())
    explanation = _pending(runtime, job)

    _run_task(explanation.id)

    ready = _stored(runtime, explanation.id)
    assert ready.status is ExplanationStatus.READY
    assert ready.error is None
    assert ready.method is not None
    assert ready.method.input_size == (256, 256)
    assert job.result is not None
    assert [face.box for face in ready.faces] == [face.box for face in job.result.faces]
    key = explanation_key(job.tenant_id, job.id, ready.model_version, 0)
    with Image.open(io.BytesIO(runtime.objects.get_explanation(key))) as overlay:
        assert (overlay.format, overlay.size, overlay.mode) == ("PNG", (256, 256), "RGB")
    # A second delivery of the same message finds it ready and does nothing.
    _run_task(explanation.id, redelivered=True)
    assert _stored(runtime, explanation.id).updated_at == ready.updated_at


def test_a_whole_image_job_is_explained_as_one_input(runtime: Runtime, samples_dir: Path) -> None:
    content = (samples_dir / "df" / DEEPFAKES[1]).read_bytes()
    job = _judged(runtime, content, DetectionMode.WHOLE_IMAGE)
    explanation = _pending(runtime, job)

    _run_task(explanation.id)

    ready = _stored(runtime, explanation.id)
    assert ready.status is ExplanationStatus.READY
    assert [(face.index, face.box) for face in ready.faces] == [(0, None)]
    assert job.result is not None
    assert job.result.fake_probability is not None
    assert ready.faces[0].fake_probability == pytest.approx(job.result.fake_probability, abs=0.01)


def test_whatever_fails_the_explanation_ends_with_a_stable_code(
    runtime: Runtime, samples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _judged(runtime, (samples_dir / "real" / "real00240.jpg").read_bytes())

    def broken(*_: object) -> None:
        raise IndexError("index 7 is out of bounds for axis 0 with size 0")

    monkeypatch.setattr(explanations, "explain_image", broken)
    defect = _pending(runtime, job)
    _run_task(defect.id)
    failed = _stored(runtime, defect.id)
    assert failed.status is ExplanationStatus.FAILED
    assert failed.error is not None
    assert failed.error.code is ErrorCode.INTERNAL_ERROR
    assert "index" not in failed.error.message

    # Past the retries, a transient error fails it with its own code.
    def unavailable(*_: object) -> None:
        raise TransientError(ErrorCode.INFERENCE_UNAVAILABLE, "model not ready")

    monkeypatch.setattr(explanations, "explain_image", unavailable)
    runtime.run(repository_of(runtime).retry(defect.id))
    _run_task(defect.id, retries=runtime.settings.retry.max_retries)
    error = _stored(runtime, defect.id).error
    assert error is not None
    assert error.code is ErrorCode.INFERENCE_UNAVAILABLE


def test_a_task_given_back_past_the_bound_fails_worker_lost(
    runtime: Runtime, samples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _judged(runtime, (samples_dir / "real" / "real00240.jpg").read_bytes())
    explanation = _pending(runtime, job)

    def dying(*_: object) -> None:
        raise SystemExit  # stands for the process dying: nothing after it runs

    monkeypatch.setattr(explanations, "explain_image", dying)
    for _ in range(BOUND):
        with pytest.raises(SystemExit):
            _run_task(explanation.id, redelivered=True)
    _run_task(explanation.id, redelivered=True)

    error = _stored(runtime, explanation.id).error
    assert error is not None
    assert error.code is ErrorCode.WORKER_LOST


def test_a_pending_one_whose_task_was_lost_fails_when_read(runtime: Runtime) -> None:
    job = Job(source=SourceKind.UPLOAD, status=JobStatus.SUCCEEDED)
    repository = repository_of(runtime)
    runtime.run(repository.ensure_indexes())
    old = utcnow() - PENDING_TIMEOUT - timedelta(seconds=1)
    lost = Explanation(
        job_id=job.id, tenant_id="t", model_name="m", model_version="1", updated_at=old
    )
    fresh = Explanation(job_id="job_other", tenant_id="t", model_name="m", model_version="1")
    runtime.run(repository.create(lost))
    runtime.run(repository.create(fresh))

    assert runtime.run(repository.fail_if_stale(fresh)).status is ExplanationStatus.PENDING
    failed = runtime.run(repository.fail_if_stale(lost))

    assert failed.status is ExplanationStatus.FAILED
    assert failed.error is not None
    assert failed.error.code is ErrorCode.WORKER_LOST
    # Asked for again, it is pending once more (the gateway then sends its task).
    assert runtime.run(repository.retry(lost.id))
    assert _stored(runtime, lost.id).status is ExplanationStatus.PENDING


def test_an_explanation_whose_job_was_deleted_keeps_nothing(
    runtime: Runtime, samples_dir: Path
) -> None:
    job = _judged(runtime, (samples_dir / "df" / DEEPFAKES[0]).read_bytes())
    explanation = _pending(runtime, job)
    runtime.run(runtime.mongo[runtime.settings.mongo.database]["jobs"].delete_one({"_id": job.id}))

    _run_task(explanation.id)

    assert runtime.run(repository_of(runtime).get(explanation.id)) is None


def test_overlays_expire_with_the_image_they_were_cut_from(runtime: Runtime) -> None:
    runtime.objects.ensure_bucket()
    image = runtime.objects.put_image(uuid.uuid4().bytes, "image/jpeg", "acme")
    old = utcnow() - timedelta(days=3)
    job = Job(tenant_id="acme", source=SourceKind.UPLOAD, image=image, created_at=old)
    runtime.run(runtime.jobs.insert(job))
    repository = repository_of(runtime)
    explanation = Explanation(job_id=job.id, tenant_id="acme", model_name="m", model_version="1")
    runtime.run(repository.create(explanation))
    key = explanation_key("acme", job.id, "1", 0)
    runtime.objects.put_explanation(key, b"png")

    async def delete_objects(keys: list[str]) -> None:
        runtime.objects.delete_images(keys)

    purger = Purger(runtime.mongo[runtime.settings.mongo.database], delete_objects)
    runtime.run(purger.purge_expired(results_after=None, images_after=timedelta(days=1), limit=10))

    assert runtime.run(repository.get(explanation.id)) is None
    with pytest.raises(PermanentError):
        runtime.objects.get_explanation(key)
