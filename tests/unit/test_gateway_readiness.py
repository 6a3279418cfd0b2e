"""Readiness: one round of checks at a time, shared and cached; Triton reported, optional."""

import asyncio

from gateway.readiness import Check, Readiness


def _readiness(outcomes: dict[str, bool], calls: list[str], cache_s: float = 60) -> Readiness:
    def check(name: str) -> Check:
        async def run() -> None:
            calls.append(name)
            await asyncio.sleep(0.01)
            if not outcomes[name]:
                raise ConnectionError(name)

        return run

    return Readiness(
        {name: check(name) for name in outcomes},
        timeout_s=1,
        cache_s=cache_s,
        optional=frozenset({"triton"}),
    )


def test_concurrent_callers_share_one_round_then_the_cache() -> None:
    calls: list[str] = []
    readiness = _readiness({"mongodb": True, "triton": True}, calls)

    async def run() -> None:
        reports = await asyncio.gather(*(readiness.report() for _ in range(50)))
        assert {report.status for report in reports} == {"ready"}
        await readiness.report()

    asyncio.run(run())
    assert sorted(calls) == ["mongodb", "triton"]
    assert readiness.rounds == 1


def test_triton_failing_is_reported_but_still_ready() -> None:
    readiness = _readiness({"mongodb": True, "triton": False}, [])
    report = asyncio.run(readiness.report())
    assert (report.status, report.ready) == ("degraded", True)
    assert report.checks == {"mongodb": "ok", "triton": "error: ConnectionError"}


def test_a_required_dependency_failing_is_not_ready() -> None:
    readiness = _readiness({"mongodb": False, "triton": True}, [])
    report = asyncio.run(readiness.report())
    assert (report.status, report.ready) == ("not_ready", False)


def test_an_expired_answer_is_checked_again() -> None:
    calls: list[str] = []
    readiness = _readiness({"mongodb": True}, calls, cache_s=0)

    async def run() -> None:
        await readiness.report()
        await readiness.report()

    asyncio.run(run())
    assert readiness.rounds == 2
