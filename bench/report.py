"""The results: targets checked, a printed summary, and one PNG chart."""

from pathlib import Path
from typing import Any

from bench.stats import ratio


def _at_least(numerator: float | None, denominator: float | None, floor: float) -> dict[str, Any]:
    value = ratio(numerator, denominator)
    return {"value": value, "target": f">= {floor:g}", "met": value is not None and value >= floor}


def _get(results: dict[str, Any], *path: str) -> Any:
    for key in path:
        results = results.get(key) or {}
    return results or None


def targets(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, each with the measured value and whether it is met."""
    pipeline = _get(results, "pipeline", "all_at_once", "images_per_s")
    naive_p99 = _get(results, "naive", "burst", "response_ms", "p99")
    submit_p99 = _get(results, "pipeline", "burst_submit", "submit_ms", "p99")
    checks: dict[str, Any] = {}
    if pipeline:
        ceiling = _get(results, "ort_curve", "best_images_per_s")
        naive = _get(results, "naive", "throughput", "images_per_s")
        if ceiling:
            checks["pipeline_vs_ort_ceiling"] = _at_least(pipeline, ceiling, 0.7)
        if naive:
            checks["pipeline_vs_naive"] = _at_least(pipeline, naive, 0.8)
    if naive_p99 and submit_p99:
        checks["burst_submit_p99_vs_naive_response_p99"] = _at_least(naive_p99, submit_p99, 10)
    gain = _get(results, "triton", "gain", "64")
    if gain:
        checks["dynamic_batching_gain_c64"] = {
            "value": gain,
            "curve_limit": batching_limit(results),
            "mean_batch_size": _get(results, "triton", "dynamic_batching", "64", "mean_batch_size"),
            "target": "measured and read against the batch-scaling curve",
            "met": True,
        }
    return checks


def batching_limit(results: dict[str, Any]) -> float | None:
    """What batching can give on this model and these cores: the per-session-per-thread curve
    at the batch size Triton formed, over its batch-1 point."""
    curve_info = results.get("ort_curve", {})
    triton = results.get("triton", {})
    if not curve_info or not triton:
        return None
    cores = curve_info["cores"]
    curve = curve_info["curves"][f"{cores} sessions x 1 thread"]
    mean_batch = triton["dynamic_batching"]["64"].get("mean_batch_size") or 1
    nearest = min(curve, key=lambda batch: abs(int(batch) - mean_batch))
    return ratio(curve[nearest], curve["1"])


def _line(label: str, value: Any) -> str:
    return f"  {label:<58} {value}"


def summary_lines(results: dict[str, Any]) -> list[str]:
    lines = [f"machine: {results['machine']['summary']}", ""]
    curve = results.get("ort_curve")
    if curve:
        lines.append("0. ONNX Runtime alone (ceiling), images/s by batch size:")
        for label, points in curve["curves"].items():
            lines.append(_line(label, "  ".join(f"b{b}={v}" for b, v in points.items())))
        lines.append(
            _line(
                "best",
                f"{curve['best_images_per_s']} ({curve['best_layout']}, "
                f"batch {curve['best_batch']})",
            )
        )
    triton = results.get("triton")
    if triton:
        lines.append("1. Triton alone (one image per request), images/s and p50/p95/p99 ms:")
        for label in ("dynamic_batching", "no_batching"):
            for concurrency in ("1", "16", "64"):
                run = triton[label][concurrency]
                ms = run["latency_ms"]
                lines.append(
                    _line(
                        f"{label} c={concurrency}",
                        f"{run['images_per_s']}/s  {ms['p50']}/{ms['p95']}/{ms['p99']} ms  "
                        f"(mean batch {run['mean_batch_size']})",
                    )
                )
        lines.append(
            _line(
                "dynamic batching gain (on/off) at c=1/16/64",
                " / ".join(str(triton["gain"][c]) for c in ("1", "16", "64")),
            )
        )
        lines.append(_line("gain the ORT curve allows at that batch size", batching_limit(results)))
    pipeline = results.get("pipeline")
    if pipeline:
        lines.append("2. Pipeline end to end (half uploads, half URLs; mode whole_image):")
        for key in ("all_at_once", "fixed_rate"):
            run = pipeline.get(key)
            if not run:
                continue
            lines.append(
                _line(
                    f"{run['jobs']} jobs, {run['arrival']}",
                    f"{run['images_per_s']} images/s "
                    f"({run['succeeded']} ok, {run['failed']} failed)",
                )
            )
            if run.get("cpu_ms_per_image"):
                cpu = ", ".join(f"{k} {v}" for k, v in run["cpu_ms_per_image"].items())
                lines.append(_line("   CPU ms per image", cpu))
            if run.get("mongo_ops_per_job"):
                ops = ", ".join(f"{k} {v}" for k, v in run["mongo_ops_per_job"].items() if v)
                lines.append(_line("   MongoDB operations per job", ops))
            for stage, ms in run["stages_ms"].items():
                if ms["n"]:
                    lines.append(
                        _line(f"   {stage} p50/p95/p99 ms", f"{ms['p50']}/{ms['p95']}/{ms['p99']}")
                    )
    naive = results.get("naive")
    if naive:
        run = naive["throughput"]
        lines.append("3. Naive baseline (sync FastAPI + in-process ONNX Runtime):")
        lines.append(
            _line(
                f"{run['requests']} requests, {run['concurrency']} in flight",
                f"{run['images_per_s']} images/s",
            )
        )
        if run.get("cpu_ms_per_image"):
            cpu = ", ".join(f"{k} {v}" for k, v in run["cpu_ms_per_image"].items())
            lines.append(_line("   CPU ms per image", cpu))
        if pipeline and pipeline.get("all_at_once"):
            lines.append(
                _line(
                    "pipeline / naive",
                    ratio(pipeline["all_at_once"]["images_per_s"], run["images_per_s"]),
                )
            )
    if pipeline and naive:
        burst, naive_burst = pipeline.get("burst_submit"), naive.get("burst")
        lines.append("4. Submit latency:")
        if burst and naive_burst:
            lines.append(
                _line(
                    f"gateway submit, {burst['jobs']}-image burst, p50/p99 ms",
                    f"{burst['submit_ms']['p50']}/{burst['submit_ms']['p99']}",
                )
            )
            lines.append(
                _line(
                    "naive response, same burst, p50/p99 ms",
                    f"{naive_burst['response_ms']['p50']}/{naive_burst['response_ms']['p99']}",
                )
            )
    bulk = results.get("bulk")
    if bulk:
        busy = bulk["interactive_during_drain"]
        lines.append(
            _line(
                f"gateway submit at {busy['rate_per_s']:g}/s, workers busy, p50/p99 ms",
                f"{busy['submit_ms']['p50']}/{busy['submit_ms']['p99']}",
            )
        )
        lines.append(
            f"5. {bulk['rows']}-row CSV batch: drained in {bulk['drain_s']} s "
            f"({bulk['images_per_s']} images/s), counts {bulk['counts']}"
        )
        streamed = bulk.get("results_streamed")
        if streamed:
            lines.append(
                _line(
                    "results streamed as CSV: rows, distinct external_id, s",
                    f"{streamed['rows']}, {streamed['distinct_external_ids']}, "
                    f"{streamed['seconds']}",
                )
            )
        event = bulk.get("batch_completed_event")
        lines.append(
            _line(
                "batch.completed events received (counts)",
                "none" if event is None else f"{event['received']} ({event['counts']})",
            )
        )
        for name, memory in bulk["memory_mb"].items():
            lines.append(
                _line(
                    f"{name} RSS start/peak/end MiB",
                    f"{memory['start_mb']}/{memory['peak_mb']}/{memory['end_mb']}",
                )
            )
        idle = bulk["interactive_idle"]["end_to_end_ms"]
        lines.append(_line("interactive job p50/p95 ms, idle", f"{idle['p50']}/{idle['p95']}"))
        lines.append(
            _line(
                "interactive job p50/p95 ms, during the drain",
                f"{busy['end_to_end_ms']['p50']}/{busy['end_to_end_ms']['p95']}",
            )
        )
    checks = results.get("targets", {})
    if checks:
        lines.append("Targets:")
        for name, check in checks.items():
            state = "met" if check["met"] else "NOT met"
            extra = (
                f" (curve limit {check['curve_limit']}, mean batch {check['mean_batch_size']})"
                if "curve_limit" in check
                else ""
            )
            lines.append(
                _line(name, f"{check['value']} (target {check['target']}): {state}{extra}")
            )
    return lines


def draw_chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(13, 9))
    figure.suptitle(f"Benchmarks on {results['machine']['summary']}", fontsize=10)
    ceiling_axis, triton_axis, stage_axis, memory_axis = axes.flat
    curve = results.get("ort_curve")
    if curve:
        for label, points in curve["curves"].items():
            ceiling_axis.plot(
                [int(b) for b in points], list(points.values()), marker="o", label=f"ORT {label}"
            )
        references = {
            "Triton c=64, batching": results.get("triton", {})
            .get("dynamic_batching", {})
            .get("64", {})
            .get("images_per_s"),
            "pipeline, all at once": results.get("pipeline", {})
            .get("all_at_once", {})
            .get("images_per_s"),
            "naive baseline": results.get("naive", {}).get("throughput", {}).get("images_per_s"),
        }
        for (label, value), style in zip(references.items(), ("--", "-.", ":"), strict=True):
            if value:
                ceiling_axis.axhline(
                    value, linestyle=style, color="grey", label=f"{label}: {value}/s"
                )
        ceiling_axis.set_xscale("log", base=2)
        ceiling_axis.set(
            title="Images/s against the ONNX Runtime batch curve",
            xlabel="batch size",
            ylabel="images/s",
        )
        ceiling_axis.legend(fontsize=7)
    triton = results.get("triton")
    if triton:
        concurrencies = ["1", "16", "64"]
        for offset, label in ((-0.2, "dynamic_batching"), (0.2, "no_batching")):
            values = [triton[label][c]["images_per_s"] for c in concurrencies]
            triton_axis.bar([i + offset for i in range(3)], values, width=0.4, label=label)
        triton_axis.set_xticks(range(3), [f"c={c}" for c in concurrencies])
        triton_axis.set(title="Triton alone", ylabel="images/s")
        triton_axis.legend(fontsize=7)
    run = results.get("pipeline", {}).get("all_at_once")
    if run:
        stages = [s for s, ms in run["stages_ms"].items() if ms["n"] and s != "total"]
        stage_axis.bar(
            [i - 0.2 for i in range(len(stages))],
            [run["stages_ms"][s]["p50"] for s in stages],
            width=0.4,
            label="p50",
        )
        stage_axis.bar(
            [i + 0.2 for i in range(len(stages))],
            [run["stages_ms"][s]["p95"] for s in stages],
            width=0.4,
            label="p95",
        )
        stage_axis.set_xticks(range(len(stages)), stages, fontsize=8)
        stage_axis.set(title="Pipeline stages, all at once (ms)", ylabel="ms")
        stage_axis.set_yscale("log")
        stage_axis.legend(fontsize=7)
    samples = results.get("bulk", {}).get("memory_samples")
    if samples:
        for name in ("gateway", "worker"):
            points = [(row["t"], row[name]) for row in samples if row.get(name)]
            if points:
                memory_axis.plot(*zip(*points, strict=True), label=name)
        memory_axis.set(title="RSS during the batch drain", xlabel="s", ylabel="MiB")
        memory_axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
