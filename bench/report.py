"""The results: targets checked, a printed summary, and one PNG chart."""

from pathlib import Path
from typing import Any

from bench.targets import batching_limit, image_sets, orchestration


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
    for number, (name, part) in enumerate(image_sets(results).items(), start=2):
        lines += _set_lines(number, name, part)
    lines += _listing_lines(results.get("listing"))
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
            f"{bulk['rows']}-row CSV batch: drained in {bulk['drain_s']} s "
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


def _set_lines(number: int, name: str, part: dict[str, Any]) -> list[str]:
    images = part.get("images") or {}
    lines = [
        f"{number}. {name} ({images.get('distinct')} distinct, "
        f"{images.get('mean_megapixels')} Mpx mean), half uploads, half URLs, whole_image:"
    ]
    costs = part.get("costs")
    if costs:
        lines.append(
            _line(
                "   CPU ms per image: decode / model b1 / model b16",
                f"{costs['decode_ms']} / {costs['model_ms_b1']} / {costs['model_ms_b16']}",
            )
        )
    naive = part.get("naive") or {}
    for key, label in (
        ("throughput", "naive, 64 in flight"),
        ("closed_loop", "naive, closed loop"),
    ):
        run = naive.get(key)
        if run:
            cpu = (run.get("cpu_ms_per_image") or {}).get("naive")
            lines.append(_line(label, f"{run['images_per_s']} images/s, CPU {cpu} ms/image"))
    runs = part.get("pipeline") or {}
    for key in ("all_at_once", "closed_loop", "fixed_rate"):
        run = runs.get(key)
        if not run:
            continue
        label = (
            f"service, {run.get('clients')} closed-loop clients (long-poll)"
            if key == "closed_loop"
            else f"service, {run.get('jobs')} jobs, {run.get('arrival')}"
        )
        ok = run.get("succeeded", run.get("jobs", 0) - run.get("failed", 0))
        lines.append(_line(label, f"{run['images_per_s']} images/s ({ok} ok)"))
        if run.get("cpu_ms_per_image"):
            cpu = ", ".join(f"{k} {v}" for k, v in run["cpu_ms_per_image"].items())
            lines.append(_line("   CPU ms per image", cpu))
        if run.get("mongo_ops_per_job"):
            ops = ", ".join(f"{k} {v}" for k, v in run["mongo_ops_per_job"].items() if v)
            pipeline_ops = run.get("mongo_ops_per_job_pipeline")
            extra = f" (the pipeline's own: {pipeline_ops})" if pipeline_ops is not None else ""
            lines.append(_line("   MongoDB operations per job", ops + extra))
        for stage, ms in (run.get("stages_ms") or {}).items():
            if ms["n"]:
                lines.append(
                    _line(f"   {stage} p50/p95/p99 ms", f"{ms['p50']}/{ms['p95']}/{ms['p99']}")
                )
    spent = orchestration(part)
    if spent:
        lines.append(
            _line(
                "   orchestration CPU ms per image",
                ", ".join(f"{k} {v}" for k, v in spent.items()),
            )
        )
    burst, naive_burst = runs.get("burst_submit"), naive.get("burst")
    if burst and naive_burst:
        lines.append(
            _line(
                f"service submit, {burst.get('jobs')}-upload burst, p50/p99 ms; all done",
                f"{burst['submit_ms']['p50']}/{burst['submit_ms']['p99']}; "
                f"{burst.get('makespan_s')} s",
            )
        )
        lines.append(
            _line(
                "naive response, same burst, p50/p99 ms; all done",
                f"{naive_burst['response_ms']['p50']}/{naive_burst['response_ms']['p99']}; "
                f"{naive_burst.get('makespan_s')} s",
            )
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


def _listing_lines(listing: dict[str, Any] | None) -> list[str]:
    """`GET /v1/jobs` pages (median ms) by tenant size: flat when an index serves them."""
    if not listing:
        return []
    lines = ["Job listing, median ms per page of 50, by the tenant's jobs:"]
    sizes = [size for size in listing if size != "plans"]
    for name in listing[sizes[0]]["page_ms"]:
        figures = "  ".join(f"{size}: {listing[size]['page_ms'][name]}" for size in sizes)
        lines.append(_line(name, figures))
    return lines
