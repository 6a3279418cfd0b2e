"""The client's retries, long-polling and typed errors, against scripted answers."""

import asyncio
import time
from collections.abc import Callable

import httpx
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
    ServerError,
    ServerUnavailable,
    TransportError,
    Unauthorized,
)
from deepfake_client.errors import retry_after_s

FAST = RetryPolicy(max_attempts=4, backoff_base_s=0.01, backoff_max_s=0.02)
Handler = Callable[[httpx.Request], httpx.Response]


def _job(status: str = "queued") -> dict[str, object]:
    return {"id": "job_1", "status": status}


def _error(status: int, code: str, **headers: str) -> httpx.Response:
    body = {"error": {"code": code, "message": "no"}}
    return httpx.Response(status, json=body, headers=headers)


class Script:
    """Answers in turn (the last repeats), recording each request and when it came."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[float, httpx.Request]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append((time.monotonic(), request))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _client(script: Handler, retries: RetryPolicy = FAST) -> DetectionClient:
    transport = httpx.MockTransport(script)
    return DetectionClient("http://api.test", api_key="dfk_x", retries=retries, transport=transport)


def test_retry_after_is_honoured_on_429_and_503() -> None:
    script = Script(
        _error(429, "rate_limited", **{"Retry-After": "1"}),
        _error(503, "service_unavailable", **{"Retry-After": "0"}),
        httpx.Response(200, json=[]),
    )
    with _client(script) as api:
        assert api.list_models() == []
    (first, _), (second, _), (third, request) = script.requests
    assert second - first >= 1.0
    assert third - second < 1.0
    assert request.headers["authorization"] == "Bearer dfk_x"


def test_a_retry_after_too_long_is_raised_at_once() -> None:
    script = Script(_error(429, "too_many_open_jobs", **{"Retry-After": "3600"}))
    with _client(script) as api, pytest.raises(RateLimited) as caught:
        api.get_job("job_1")
    assert (caught.value.code, caught.value.retry_after_s, caught.value.status) == (
        "too_many_open_jobs",
        3600.0,
        429,
    )
    assert len(script.requests) == 1


def test_retries_are_bounded() -> None:
    script = Script(_error(503, "service_unavailable"))
    with _client(script) as api, pytest.raises(ServerUnavailable):
        api.get_batch("bat_1")
    assert len(script.requests) == FAST.max_attempts


def test_a_retried_submission_sends_the_same_idempotency_key() -> None:
    script = Script(
        httpx.ReadTimeout("lost"),
        _error(503, "service_unavailable"),
        httpx.Response(202, json=_job()),
    )
    with _client(script) as api:
        assert api.submit_url("https://x/a.jpg", mode="whole_image").id == "job_1"
    keys = {request.headers["idempotency-key"] for _, request in script.requests}
    assert len(script.requests) == 3
    assert len(keys) == 1


def test_an_upload_is_sent_whole_on_every_attempt() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.Response(202, json=_job()))
    with _client(script) as api:
        api.submit_file(b"\xff\xd8image", filename="a.jpg", metadata={"k": 1})
    bodies = [request.content for _, request in script.requests]
    assert b"\xff\xd8image" in bodies[0]
    assert b'{"k": 1}' in bodies[1]


def test_a_lost_answer_is_not_retried_where_a_second_send_would_act_twice() -> None:
    script = Script(httpx.ReadTimeout("lost"))
    with _client(script) as api, pytest.raises(TransportError):
        api.rotate_webhook_secret("wh_1")
    assert len(script.requests) == 1
    # A connection never made sent nothing: that one is retried.
    refused = Script(httpx.ConnectError("refused"), httpx.Response(200, json=[]))
    with _client(refused) as api:
        assert api.list_webhooks() == []


def test_an_idempotency_key_in_use_is_waited_for() -> None:
    script = Script(
        _error(409, "idempotency_key_in_use", **{"Retry-After": "0"}),
        httpx.Response(202, json=_job()),
    )
    with _client(script) as api:
        assert api.submit_url("https://x/a.jpg", idempotency_key="k").id == "job_1"
    with _client(Script(_error(409, "delivery_pending"))) as api, pytest.raises(Conflict):
        api.redeliver("dlv_1")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (413, InvalidRequest),
        (415, InvalidRequest),
        (422, InvalidRequest),
        (500, ServerError),
        (502, ServerUnavailable),
    ],
)
def test_each_status_family_has_its_error(status: int, error: type[Exception]) -> None:
    api = _client(Script(_error(status, "some_code")), RetryPolicy(max_attempts=1))
    with api, pytest.raises(error) as caught:
        api.get_job("job_1")
    assert caught.value.code == "some_code"  # type: ignore[attr-defined]
    assert caught.value.status == status  # type: ignore[attr-defined]


def test_a_foreign_error_body_still_raises_typed() -> None:
    api = _client(Script(httpx.Response(502, text="<html>bad gateway</html>")))
    with api, pytest.raises(ServerUnavailable) as caught:
        api.get_job("job_1")
    assert caught.value.code == "http_error"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_s(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    date = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_s(date) == 0.0  # in the past
    assert retry_after_s(httpx.Response(429)) is None


def test_wait_long_polls_a_server_that_holds_answers() -> None:
    def held(request: httpx.Request) -> httpx.Response:
        assert float(request.url.params["wait"]) > 0
        time.sleep(1.0)  # the server holds the answer until the job ends
        return httpx.Response(200, json=_job("succeeded"))

    with _client(held) as api:
        assert api.wait("job_1", long_poll_s=5).status == "succeeded"


def test_wait_falls_back_to_polling_with_backoff() -> None:
    script = Script(*(httpx.Response(200, json=_job()) for _ in range(3)))
    script.answers.append(httpx.Response(200, json=_job("succeeded")))
    with _client(script) as api:
        assert api.wait("job_1").status == "succeeded"
    (_, asked), *polled = script.requests
    assert "wait" in asked.url.params
    assert all("wait" not in request.url.params for _, request in polled)
    gaps = [b[0] - a[0] for a, b in zip(script.requests, script.requests[1:], strict=False)]
    assert gaps[-1] > gaps[0]  # growing


def test_the_async_client_retries_and_waits_alike() -> None:
    script = Script(
        _error(429, "rate_limited", **{"Retry-After": "0"}),
        httpx.Response(202, json=_job()),
        httpx.Response(200, json=_job("succeeded")),
    )

    async def run() -> str:
        transport = httpx.MockTransport(script)
        async with AsyncDetectionClient(
            "http://api.test", retries=FAST, transport=transport
        ) as api:
            job = await api.submit_url("https://x/a.jpg")
            return (await api.wait(job.id)).status

    assert asyncio.run(run()) == "succeeded"
    assert len(script.requests) == 3
