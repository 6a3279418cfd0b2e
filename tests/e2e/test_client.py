"""Every route the client library wraps, against the running service."""

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from deepfake_client import (
    AsyncDetectionClient,
    Conflict,
    DetectionClient,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    RetryPolicy,
    Unauthorized,
    verify_webhook,
)

from tests.e2e.clients import ADMIN_KEY, CreateKey
from tests.e2e.jobs import ImageServer
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.e2e

CROP = Path("real") / "real00240.jpg"


@pytest.fixture
def client(gateway: str, worker: object) -> Iterator[DetectionClient]:
    with DetectionClient(gateway, api_key=ADMIN_KEY) as api:
        yield api


def test_jobs_submit_wait_list_image_and_delete(
    client: DetectionClient, image_server: ImageServer, samples_dir: Path
) -> None:
    assert any(model.default for model in client.list_models())
    case = uuid.uuid4().hex
    by_url = client.submit_url(
        image_server.url(str(CROP)), mode="whole_image", metadata={"case": case}
    )
    by_file = client.submit_file(samples_dir / CROP, mode="whole_image", metadata={"case": case})
    for job_id in (by_url.id, by_file.id):
        done = client.wait(job_id, timeout_s=60)
        assert done.result is not None
        assert done.result.verdict == "real"
    page = client.list_jobs(limit=1, metadata_key="case", metadata_value=case)
    assert page.next_cursor is not None
    listed = client.iter_jobs(page_size=1, metadata_key="case", metadata_value=case)
    assert {job.id for job in listed} == {by_url.id, by_file.id}
    assert client.get_job_image(by_file.id) == (samples_dir / CROP).read_bytes()
    again = client.submit_file(samples_dir / CROP, idempotency_key=case, mode="whole_image")
    assert client.submit_file(samples_dir / CROP, idempotency_key=case, mode="whole_image").id == (
        again.id
    )
    client.wait(again.id)
    client.delete_job(by_file.id)
    with pytest.raises(NotFound) as caught:
        client.get_job(by_file.id)
    assert (caught.value.status, caught.value.code) == (404, "job_not_found")


def test_errors_are_typed(
    gateway: str, client: DetectionClient, create_key: CreateKey, image_server: ImageServer
) -> None:
    stranger = DetectionClient(gateway, api_key="dfk_00000000_" + "x" * 43)
    with stranger, pytest.raises(Unauthorized):
        stranger.list_models()
    reader = DetectionClient(gateway, api_key=create_key("read"))
    with reader, pytest.raises(Forbidden):
        reader.submit_url(image_server.url(str(CROP)))
    with pytest.raises(InvalidRequest) as invalid:
        client.submit_url("ftp://example.com/a.jpg")
    assert invalid.value.code == "invalid_url"
    unfetched = client.wait(client.submit_url("http://127.0.0.1:9/nothing.jpg").id)
    assert unfetched.status == "failed"
    with pytest.raises(Conflict) as conflict:
        client.get_job_image(unfetched.id)
    assert conflict.value.code == "image_not_stored"


def test_retry_after_from_a_real_rate_limit(gateway: str, create_key: CreateKey) -> None:
    key = create_key("read", rate="1", burst="2")
    impatient = RetryPolicy(max_retry_after_s=0)
    with DetectionClient(gateway, api_key=key, retries=impatient) as api:
        api.list_models()
        api.list_models()
        with pytest.raises(RateLimited) as caught:
            api.list_models()
    assert caught.value.retry_after_s is not None
    assert caught.value.retry_after_s >= 1
    with DetectionClient(gateway, api_key=key) as patient:
        started = time.monotonic()
        assert patient.list_models()  # waited as told, then served
        assert time.monotonic() - started >= 0.5


def test_batches_submit_follow_stream_list_cancel_and_delete(
    client: DetectionClient, image_server: ImageServer, tmp_path: Path
) -> None:
    url = image_server.url(str(CROP))
    items = [{"image_url": url, "external_id": f"row-{n}"} for n in range(4)]
    submitted = client.submit_batch([*items, {"image_url": "not a url"}], mode="whole_image")
    snapshots = list(client.follow_batch(submitted.id, interval_s=0.2, timeout_s=60))
    final = snapshots[-1]
    assert final.done
    assert (final.total, final.invalid_rows, final.counts["succeeded"]) == (4, 1, 4)
    results = list(client.iter_batch_results(submitted.id))
    assert sorted(r.external_id or "" for r in results) == [f"row-{n}" for n in range(4)]
    assert {r.verdict for r in results} == {"real"}

    rows = tmp_path / "rows.csv"
    rows.write_text(f"image_url,external_id\n{url},a\n{url},b\n")
    from_file = client.submit_batch_file(rows, mode="whole_image")
    assert client.wait_batch(from_file.id, timeout_s=60).counts["succeeded"] == 2
    page = client.list_batches(limit=1)
    assert page.items[0].id == from_file.id
    assert {submitted.id, from_file.id} <= {b.id for b in client.iter_batches(page_size=1)}

    many = [{"image_url": url} for _ in range(50)]
    to_cancel = client.submit_batch(many, mode="whole_image")
    assert client.cancel_batch(to_cancel.id).cancelled_at is not None
    client.wait_batch(to_cancel.id, timeout_s=60)
    for batch_id in (submitted.id, from_file.id, to_cancel.id):
        client.delete_batch(batch_id)
        with pytest.raises(NotFound):
            client.get_batch(batch_id)


def _settled(client: DetectionClient, delivery_id: str) -> str:
    deadline = time.monotonic() + 30
    while (status := client.get_delivery(delivery_id).status) == "pending":
        assert time.monotonic() < deadline, "the delivery never settled"
        time.sleep(0.1)
    return status


def test_webhooks_register_deliver_redeliver_and_rotate(
    client: DetectionClient, receiver: Receiver, samples_dir: Path
) -> None:
    path = receiver.new_path()
    created = client.create_webhook(receiver.url(path), ["job.succeeded"], description="client")
    assert created.secret.startswith("whsec_")
    assert client.get_webhook(created.id).url == receiver.url(path)
    assert created.id in {w.id for w in client.list_webhooks()}
    job = client.wait(client.submit_file(samples_dir / CROP, mode="whole_image").id)

    (first,) = receiver.wait_for(path, job.id)
    event = verify_webhook(first.body, first.headers, created.secret)
    assert event.job is not None
    assert (event.type, event.job.id) == ("job.succeeded", job.id)
    (delivery,) = client.list_deliveries(endpoint_id=created.id, job_id=job.id)
    assert _settled(client, delivery.id) == "succeeded"
    assert client.get_delivery(delivery.id).attempts[0].status_code == 200

    rotated = client.rotate_webhook_secret(created.id)
    assert rotated.secret != created.secret
    assert client.redeliver(delivery.id).series == 2
    _, again = receiver.wait_for(path, job.id, count=2)
    assert again.headers["webhook-id"] == first.headers["webhook-id"]
    # Within the grace period the old secret signs too: either one verifies.
    for secret in (created.secret, rotated.secret):
        assert verify_webhook(again.body, again.headers, secret).message_id == event.message_id
    assert client.enable_webhook(created.id).disabled is False
    client.delete_webhook(created.id)
    with pytest.raises(NotFound):
        client.get_webhook(created.id)


def test_callback_secret_signs_callback_deliveries(
    client: DetectionClient, receiver: Receiver, samples_dir: Path
) -> None:
    before = client.get_callback_secret()
    rotated = client.rotate_callback_secret()
    assert rotated.secret != before.secret
    assert rotated.previous_secret_expires_at is not None
    path = receiver.new_path()
    job = client.submit_file(
        samples_dir / CROP, mode="whole_image", callback_url=receiver.url(path)
    )
    client.wait(job.id)
    (received,) = receiver.wait_for(path, job.id)
    assert verify_webhook(received.body, received.headers, rotated.secret).type == "job.succeeded"


def test_the_async_client(gateway: str, worker: object, samples_dir: Path) -> None:
    async def run() -> tuple[str, int]:
        async with AsyncDetectionClient(gateway, api_key=ADMIN_KEY) as api:
            case = {"case": uuid.uuid4().hex}
            content = (samples_dir / CROP).read_bytes()
            job = await api.submit_file(content, filename="x.jpg", metadata=case)
            done = await api.wait(job.id)
            filters = {"metadata_key": "case", "metadata_value": case["case"]}
            listed = [j.id async for j in api.iter_jobs(**filters)]  # type: ignore[arg-type]
            batch = await api.submit_batch([{"image_url": "http://127.0.0.1:9/x.jpg"}])
            await api.wait_batch(batch.id, timeout_s=60)
            results = [r async for r in api.iter_batch_results(batch.id)]
            assert job.id in listed
            return (done.result.verdict if done.result else "none"), len(results)

    assert asyncio.run(run()) == ("real", 1)
