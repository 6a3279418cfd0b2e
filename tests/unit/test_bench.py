"""The benchmark's bookkeeping: per-stage times from a job's record, and the targets."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.pipeline import stage_seconds
from bench.report import summary_lines
from bench.stats import percentiles_ms
from bench.targets import targets

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
            "all_at_once": {
                "images_per_s": 150.0,
                "cpu_ms_per_image": {"gateway": 1.0, "worker": 4.0, "triton": 4.5, "mongo": 3},
                "mongo_ops_per_job_pipeline": 2.1,
            },
            "burst_submit": {"submit_ms": {"p50": 5.0, "p99": 20.0}, "makespan_s": 3.0},
        },
        "costs": {"decode_ms": 2.0, "model_ms_b1": 4.0, "model_ms_b16": 3.5},
        "naive": {
            "throughput": {
                "images_per_s": 160.0,
                "requests": 10,
                "concurrency": 4,
                "cpu_ms_per_image": {"naive": 10.0},
            },
            "burst": {"response_ms": {"p50": 100.0, "p99": 300.0}, "makespan_s": 2.5},
        },
        "crops": {"pipeline": {"all_at_once": {"images_per_s": 50.0}}},
    }
    checks = targets(results)
    assert checks["photos: pipeline_vs_ort_ceiling"] == {
        "value": 0.75,
        "target": ">= 0.7",
        "met": True,
    }
    assert checks["photos: all_at_once_vs_naive"]["met"]
    assert checks["photos: burst_submit_p99_vs_naive_response_p99"]["value"] == 15.0
    # The service's own processes: 1 + 4 + 4.5 = 9.5 ms against the naive server's 10.
    assert checks["photos: service_cpu_vs_naive"] == {"value": 0.95, "target": "<= 1", "met": True}
    # Less 2 ms of decoding (worker) and 3.5 ms of model (Triton, the cheaper batch size):
    # 1 + 2 + 1 = 4 ms.
    assert checks["photos: orchestration_ms_per_image"]["value"] == 4.0
    assert not checks["photos: orchestration_ms_per_image"]["met"]
    assert checks["photos: burst_makespan_vs_naive"]["value"] == 1.2
    assert not checks["photos: mongo_ops_per_job"]["met"]
    # A set with no naive figures is compared with nothing.
    assert not [name for name in checks if name.startswith("crops")]
    assert any("orchestration CPU" in line for line in summary_lines(results))
    lines = summary_lines({"machine": results["machine"], "targets": checks})
    assert any("all_at_once_vs_naive" in line and ": met" in line for line in lines)


def test_stage_times_of_a_micro_batched_url_job() -> None:
    job = {
        "timestamps": {
            "queued": "2026-01-01T00:00:00+00:00",
            "fetching": "2026-01-01T00:00:00.100+00:00",
            "inferring": "2026-01-01T00:00:00.100+00:00",
            "succeeded": "2026-01-01T00:00:00.200+00:00",
        },
        "durations_ms": {"fetch": 20.0, "store": 10.0, "decode": 5.0, "inference": 40.0},
    }
    stages = stage_seconds(job)
    assert stages["queue_wait"] == pytest.approx(0.1, abs=1e-6)
    assert stages["store"] == pytest.approx(0.01, abs=1e-6)
    # 100 ms judging less 75 ms timed: the write and the wait on its neighbours.
    assert stages["write"] == pytest.approx(0.025, abs=1e-6)
    assert stages["total"] == pytest.approx(0.2, abs=1e-6)
