"""`python -m bench`: every figure in one run, written to bench/results/ and printed.

Starts its own stack on free ports (data under .local/bench), or measures a running one
with `--gateway URL` (then `--mongo-url` adds the per-stage durations and `--gateway-pid` /
`--worker-pid` the memory figures).
"""

import argparse
import asyncio
import json
import logging
import os
import platform
import signal
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import bulk, listing, naive, ort_curve, pipeline, triton_alone
from bench.costs import fixed_costs
from bench.images import ImageSet, build_images, sample_crops, serving
from bench.load import http_client
from bench.report import draw_chart, summary_lines
from bench.stack import RunningStack, local_stack, production_model
from bench.targets import targets
from devstack.stack import DEFAULT_WEIGHTS_DIR, REPO_ROOT, StackConfig, prepare_model_repository

PARTS = ("ort", "triton", "naive", "pipeline", "bulk", "listing")
IMAGE_SETS = ("photos", "crops")
log = logging.getLogger("bench")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small counts, short runs (smoke check)"
    )
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per pipeline run")
    parser.add_argument(
        "--rate", type=float, help="fixed arrival rate (default: 70%% of all-at-once)"
    )
    parser.add_argument("--burst", type=int, default=500, help="images in the submit-latency burst")
    parser.add_argument("--batch-rows", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--worker-concurrency", type=int, default=StackConfig.worker_concurrency)
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument(
        "--images",
        nargs="+",
        choices=IMAGE_SETS,
        default=list(IMAGE_SETS),
        help="photos: 0.5-2 Mpx JPEGs (the first set also drives the bulk figure); "
        "crops: the 256 x 256 sample face crops, where the cost around the model shows",
    )
    parser.add_argument("--clients", type=int, default=16, help="closed-loop clients")
    parser.add_argument("--gateway", help="measure this running gateway instead of starting one")
    parser.add_argument("--mongo-url", help="with --gateway: read per-stage durations from here")
    parser.add_argument("--gateway-pid", type=int)
    parser.add_argument("--worker-pid", type=int)
    parser.add_argument(
        "--api-key", default=os.environ.get("BENCH_API_KEY"), help="(env BENCH_API_KEY)"
    )
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".local" / "bench")
    parser.add_argument("--weights-dir", type=Path, default=DEFAULT_WEIGHTS_DIR)
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.burst, args.batch_rows = (
            min(args.jobs, 100),
            min(args.burst, 100),
            min(args.batch_rows, 300),
        )
    return args


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        memory_kb = 0
    cores = os.cpu_count() or 1
    memory = f"{memory_kb / 2**20:.0f} GiB RAM" if memory_kb else "RAM unknown"
    return {
        "cpu": cpu,
        "cores": cores,
        "memory_kb": memory_kb,
        "summary": f"{cores} cores, {cpu}, {memory}, no GPU",
    }


async def _service_figures(
    args: argparse.Namespace,
    stack: RunningStack,
    sets: dict[str, tuple[ImageSet, str]],
    results: dict[str, Any],
) -> None:
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    async with http_client(
        stack.gateway_url, connections=args.concurrency, headers=headers
    ) as client:
        if "pipeline" in args.only:
            for name, (images, image_url) in sets.items():
                log.info("pipeline, %s", name)
                _part(results, name)["pipeline"] = await _pipeline_runs(
                    args, client, stack, images, image_url
                )
                checkpoint(args.output, results)
        if "bulk" in args.only:
            images, image_url = next(iter(sets.values()))
            log.info("bulk: %d-row batch", args.batch_rows)
            memory_pids = {n: p for n, p in stack.pids.items() if n in ("gateway", "worker")}
            results["bulk"] = await bulk.drain(
                client,
                images,
                image_url,
                args.batch_rows,
                memory_pids,
                # Below what the workers finish, so that interactive jobs never queue
                # behind each other, only (if priorities failed) behind the batch.
                interactive_jobs=20 if args.quick else 120,
                interactive_rate=4.0,
            )


async def _pipeline_runs(
    args: argparse.Namespace,
    client: Any,
    stack: RunningStack,
    images: ImageSet,
    image_url: str,
) -> dict[str, Any]:
    async def jobs(count: int, rate_per_s: float | None, uploads_only: bool) -> dict[str, Any]:
        return await pipeline.run_jobs(
            client,
            images,
            image_url,
            stack.mongo_url,
            count,
            rate_per_s=rate_per_s,
            concurrency=args.concurrency,
            uploads_only=uploads_only,
            pids=stack.pids,
        )

    log.info("pipeline: %d jobs all at once", args.jobs)
    runs: dict[str, Any] = {"all_at_once": await jobs(args.jobs, None, False)}
    log.info("pipeline: %d closed-loop clients", args.clients)
    runs["closed_loop"] = await pipeline.closed_loop(
        client, images, stack.mongo_url, clients=args.clients, count=args.jobs, pids=stack.pids
    )
    arrival = args.rate or max(1.0, round(0.7 * runs["all_at_once"]["images_per_s"]))
    log.info("pipeline: %d jobs at %g/s", args.jobs, arrival)
    runs["fixed_rate"] = await jobs(args.jobs, arrival, False)
    log.info("pipeline: %d-upload burst", args.burst)
    runs["burst_submit"] = await jobs(args.burst, None, True)
    return runs


def _part(results: dict[str, Any], name: str) -> dict[str, Any]:
    """Where a set's figures go: the photos at the top (as before), others under their name."""
    return results if name == "photos" else results.setdefault(name, {})


def checkpoint(output: Path, results: dict[str, Any]) -> None:
    """The figures so far, in `partial.json`: a run stopped halfway keeps what it measured."""
    output.mkdir(parents=True, exist_ok=True)
    (output / "partial.json").write_text(json.dumps(results, indent=2, default=str))


def run(args: argparse.Namespace) -> dict[str, Any]:
    duration = 0.5 if args.quick else 3.0
    root = args.data_dir.resolve()
    results: dict[str, Any] = {
        "machine": machine(),
        "started_at": datetime.now(UTC).isoformat(),
        "quick": args.quick,
    }
    repository = prepare_model_repository(root, args.weights_dir, instances=os.cpu_count() or 1)
    model = production_model(root)
    samples = args.weights_dir / "samples"
    builders = {
        "photos": lambda: build_images(root / "images", samples),
        "crops": lambda: sample_crops(samples),
    }
    sets = {name: builders[name]() for name in args.images}
    for name, images in sets.items():
        _part(results, name)["images"] = {
            "distinct": len(images.names),
            "mean_megapixels": images.mean_megapixels(),
            "format": "JPEG",
        }
        _part(results, name)["costs"] = fixed_costs(model, images)
    if "ort" in args.only:
        log.info("ONNX Runtime batch curve")
        results["ort_curve"] = ort_curve.batch_curve(model, duration)
        checkpoint(args.output, results)
    if "triton" in args.only:
        log.info("Triton alone")
        results["triton"] = triton_alone.measure(repository, root / "triton-alone", duration * 2)
        checkpoint(args.output, results)
    if "listing" in args.only:
        log.info("job listing at 10,000 and 100,000 jobs")
        sizes = (1_000, 10_000) if args.quick else (10_000, 100_000)
        results["listing"] = listing.on_own_server(root / "listing", sizes)
        checkpoint(args.output, results)
    if "naive" in args.only:
        for name, images in sets.items():
            log.info("naive baseline, %s", name)
            _part(results, name)["naive"] = _naive(args, model, images, root)
            checkpoint(args.output, results)
    if {"pipeline", "bulk"} & set(args.only):
        with ExitStack() as context:
            served = {
                name: (images, context.enter_context(serving(images)))
                for name, images in sets.items()
            }
            if args.gateway:
                # A running stack: only the processes named on the command line.
                named = {"gateway": args.gateway_pid, "worker": args.worker_pid}
                pids = {name: pid for name, pid in named.items() if pid}
                stack = RunningStack(args.gateway, args.mongo_url, pids)
            else:
                log.info("starting the stack (worker concurrency %d)", args.worker_concurrency)
                stack = context.enter_context(
                    local_stack(
                        root / "stack",
                        repository,
                        worker_concurrency=args.worker_concurrency,
                    )
                )
            results["worker_concurrency"] = args.worker_concurrency
            asyncio.run(_service_figures(args, stack, served, results))
    results["targets"] = targets(results)
    results["finished_at"] = datetime.now(UTC).isoformat()
    return results


def _naive(args: argparse.Namespace, model: Path, images: ImageSet, root: Path) -> dict[str, Any]:
    with naive.naive_server(model, root / "logs") as (url, pid):
        pids = {"naive": pid}
        return {
            "throughput": asyncio.run(naive.drive(url, images, args.jobs, args.concurrency, pids)),
            "closed_loop": asyncio.run(naive.drive(url, images, args.jobs, args.clients, pids)),
            "burst": asyncio.run(naive.drive(url, images, args.burst, args.concurrency, pids)),
        }


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # SIGTERM takes Ctrl-C's path, so the servers this run started stop with it.
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    results = run(args)
    args.output.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = "quick" if args.quick else "latest"
    for path in (args.output / f"{stamp}.json", args.output / f"{name}.json"):
        path.write_text(json.dumps(results, indent=2, default=str))
    draw_chart(results, args.output / f"{name}.png")
    print("\n".join(["", *summary_lines(results), ""]))
    elapsed = time.monotonic() - started
    print(f"results: {args.output / name}.json and .png ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
