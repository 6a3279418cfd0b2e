"""The benchmark's bookkeeping: per-stage times from a job's record, and the targets."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.pipeline import stage_seconds
from bench.report import summary_lines, targets
from bench.stats import percentiles_ms

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def test_an_upload_waits_until_its_inference_task_starts() -> None:
    job = {
        "timestamps": {"queued": _at(0), "inferring": _at(100), "succeeded": _at(160)},
        "durations_ms": {"load": 10, "decode": 20, "inference": 25},
    }
    stages = stage_seconds(job)
    assert stages["queue_wait"] == pytest.approx(0.100, abs=1e-6)
    assert stages["write"] == pytest.approx(0.005, abs=1e-6)  # 60 ms in the task, 55 of them timed
    assert stages["total"] == pytest.approx(0.160, abs=1e-6)
    assert "fetch" not in stages


def test_a_url_job_waits_in_both_queues() -> None:
    job = {
        "timestamps": {
            "queued": _at(0),
            "fetching": _at(50),
            "inferring": _at(90),
            "succeeded": _at(200),
        },
        "durations_ms": {"fetch": 30, "load": 10, "decode": 20, "inference": 25},
    }
    stages = stage_seconds(job)
    # 50 ms for a fetch worker, then 110 - 55 timed = 55 ms for an inference worker.
    assert stages["queue_wait"] == pytest.approx(0.105, abs=1e-6)
    assert stages["store"] == pytest.approx(0.010, abs=1e-6)
    assert "write" not in stages


def test_percentiles_are_in_milliseconds() -> None:
    summary = percentiles_ms([0.001 * n for n in range(1, 101)])
    assert summary["n"] == 100
    assert summary["p50"] == pytest.approx(50.5, abs=1e-6)
    assert summary["max"] == pytest.approx(100.0, abs=1e-6)
    assert percentiles_ms([])["p99"] is None


def test_targets_compare_measured_ratios() -> None:
    results: dict[str, Any] = {
        "machine": {"summary": "2 cores"},
        "ort_curve": {
            "cores": 2,
            "curves": {"2 sessions x 1 thread": {"1": 200.0, "16": 150.0}},
            "best_images_per_s": 200.0,
            "best_layout": "2 sessions x 1 thread",
            "best_batch": 1,
        },
        "pipeline": {
            "all_at_once": {"images_per_s": 150.0},
            "burst_submit": {"submit_ms": {"p99": 20.0}},
        },
        "naive": {
            "throughput": {"images_per_s": 160.0, "requests": 10, "concurrency": 4},
            "burst": {"response_ms": {"p50": 100.0, "p99": 300.0}},
        },
    }
    checks = targets(results)
    assert checks["pipeline_vs_ort_ceiling"] == {"value": 0.75, "target": ">= 0.7", "met": True}
    assert checks["pipeline_vs_naive"]["met"]
    assert checks["burst_submit_p99_vs_naive_response_p99"]["value"] == 15.0
    lines = summary_lines({"machine": results["machine"], "targets": checks})
    assert any("pipeline_vs_naive" in line and ": met" in line for line in lines)
