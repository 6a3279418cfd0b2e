"""The issues' targets, each with the measured value and whether it is met."""

from typing import Any

from bench.stats import ratio


def _at_least(numerator: float | None, denominator: float | None, floor: float) -> dict[str, Any]:
    value = ratio(numerator, denominator)
    return {"value": value, "target": f">= {floor:g}", "met": value is not None and value >= floor}


def _get(results: dict[str, Any], *path: str) -> Any:
    for key in path:
        results = results.get(key) or {}
    return results or None


def _at_most(value: float | None, ceiling: float) -> dict[str, Any]:
    return {
        "value": value,
        "target": f"<= {ceiling:g}",
        "met": value is not None and value <= ceiling,
    }


SERVICE = ("gateway", "worker", "triton")


def orchestration(part: dict[str, Any], run: str = "all_at_once") -> dict[str, float] | None:
    """CPU ms per image of the service's own processes less decoding (worker) and model
    execution (Triton): what the pipeline costs around them."""
    cpu = _get(part, "pipeline", run, "cpu_ms_per_image")
    costs = part.get("costs")
    if not cpu or not costs:
        return None
    # The local Triton backend runs a batch's images one at a time on a CPU (faster per
    # image there): the model costs the cheaper of the two batch sizes measured.
    model_ms = min(costs["model_ms_b1"], costs["model_ms_b16"])
    spent = {
        "gateway": cpu.get("gateway", 0.0),
        "worker": max(0.0, cpu.get("worker", 0.0) - costs["decode_ms"]),
        "triton": max(0.0, cpu.get("triton", 0.0) - model_ms),
    }
    spent = {name: round(value, 2) for name, value in spent.items()}
    spent["all"] = round(sum(spent.values()), 2)
    return spent


def _set_targets(part: dict[str, Any]) -> dict[str, Any]:
    """One image set's targets (issue: micro-batched pipeline)."""
    checks: dict[str, Any] = {}
    naive = part.get("naive") or {}
    runs = part.get("pipeline") or {}
    for run, naive_run in (("all_at_once", "throughput"), ("closed_loop", "closed_loop")):
        ours = _get(runs, run, "images_per_s")
        theirs = _get(naive, naive_run, "images_per_s")
        if ours and theirs:
            checks[f"{run}_vs_naive"] = _at_least(ours, theirs, 0.8)
    cpu = _get(runs, "all_at_once", "cpu_ms_per_image")
    naive_cpu = _get(naive, "throughput", "cpu_ms_per_image", "naive")
    if cpu and naive_cpu:
        own = sum(cpu.get(name, 0.0) for name in SERVICE)
        checks["service_cpu_vs_naive"] = _at_most(ratio(own, naive_cpu), 1.0)
    spent = orchestration(part)
    if spent:
        checks["orchestration_ms_per_image"] = _at_most(spent["all"], 3.0)
    naive_p99 = _get(naive, "burst", "response_ms", "p99")
    submit_p99 = _get(runs, "burst_submit", "submit_ms", "p99")
    if naive_p99 and submit_p99:
        checks["burst_submit_p99_vs_naive_response_p99"] = _at_least(naive_p99, submit_p99, 10)
    makespan = _get(runs, "burst_submit", "makespan_s")
    naive_makespan = _get(naive, "burst", "makespan_s")
    if makespan and naive_makespan:
        checks["burst_makespan_vs_naive"] = _at_most(ratio(makespan, naive_makespan), 1.5)
    ops = _get(runs, "all_at_once", "mongo_ops_per_job_pipeline")
    if ops:
        checks["mongo_ops_per_job"] = _at_most(ops, 2.0)
    return checks


def targets(results: dict[str, Any]) -> dict[str, Any]:
    """The issues' targets, each with the measured value and whether it is met."""
    checks: dict[str, Any] = {}
    for name, part in image_sets(results).items():
        checks.update({f"{name}: {key}": check for key, check in _set_targets(part).items()})
    pipeline = _get(results, "pipeline", "all_at_once", "images_per_s")
    ceiling = _get(results, "ort_curve", "best_images_per_s")
    if pipeline and ceiling:
        checks["photos: pipeline_vs_ort_ceiling"] = _at_least(pipeline, ceiling, 0.7)
    gain = _get(results, "triton", "gain", "64")
    if gain:
        checks["dynamic_batching_gain_c64"] = {
            "value": gain,
            "curve_limit": batching_limit(results),
            "mean_batch_size": _get(results, "triton", "dynamic_batching", "64", "mean_batch_size"),
            "target": "measured and read against the batch-scaling curve",
            "met": True,
        }
    bulk = results.get("bulk")
    if bulk:
        idle = _get(bulk, "interactive_idle", "end_to_end_ms", "p95")
        busy = _get(bulk, "interactive_during_drain", "end_to_end_ms", "p95")
        if idle and busy:
            checks["interactive_p95_drain_vs_idle"] = _at_most(ratio(busy, idle), 2.0)
    return checks


def image_sets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each image set's figures: the photos at the top level, the crops under `crops`."""
    sets = {"photos": results} if results.get("pipeline") or results.get("naive") else {}
    if results.get("crops"):
        sets["crops"] = results["crops"]
    return sets


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
