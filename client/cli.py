"""`deepfake scan`: judge files, folders or URLs with a running service.

deepfake scan photos/ https://example.com/a.jpg --urls-file urls.txt --format jsonl -o out.jsonl
deepfake models
"""

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from client.api import ApiError, DetectionClient
from client.output import Progress, Scanned, table, write_csv, write_jsonl

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp"}


def expand_sources(inputs: list[str], urls_file: Path | None) -> list[str]:
    """URLs as given; files as given; folders walked for images, in sorted order."""
    sources: list[str] = []
    for item in inputs:
        if item.startswith(("http://", "https://")):
            sources.append(item)
        elif Path(item).is_dir():
            sources += sorted(
                str(p) for p in Path(item).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
            )
        else:
            sources.append(item)
    if urls_file is not None:
        lines = urls_file.read_text().splitlines()
        sources += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return sources


def _scan_one(client: DetectionClient, source: str, args: argparse.Namespace) -> Scanned:
    options: dict[str, Any] = {
        "model": args.model,
        "mode": args.mode,
        "callback_url": args.webhook,
    }
    try:
        if source.startswith(("http://", "https://")):
            job = client.submit_url(source, **options)
        else:
            job = client.submit_file(Path(source), **options)
        if args.wait:
            job = client.wait(job.id, timeout_s=args.timeout)
    except (ApiError, OSError, TimeoutError) as error:
        return Scanned(source, None, str(error))
    return Scanned(source, job)


def scan(args: argparse.Namespace) -> int:
    sources = expand_sources(args.inputs, args.urls_file)
    if not sources:
        print("nothing to scan", file=sys.stderr)
        return 2
    progress = Progress(len(sources), "waiting" if args.wait else "submitting")
    with (
        DetectionClient(args.api, api_key=args.api_key) as client,
        ThreadPoolExecutor(args.concurrency) as pool,
    ):

        def run(source: str) -> Scanned:
            scanned = _scan_one(client, source, args)
            progress.advance()
            return scanned

        items = list(pool.map(run, sources))
    _write(items, args)
    failed = sum(1 for item in items if item.job is None or item.job.status == "failed")
    return 1 if failed else 0


def _write(items: list[Scanned], args: argparse.Namespace) -> None:
    stream = open(args.output, "w", newline="") if args.output else sys.stdout  # noqa: SIM115
    try:
        if args.format == "jsonl":
            write_jsonl(items, stream)
        elif args.format == "csv":
            write_csv(items, stream)
        else:
            stream.write(table(items))
    finally:
        if stream is not sys.stdout:
            stream.close()


def models(args: argparse.Namespace) -> int:
    with DetectionClient(args.api, api_key=args.api_key) as client:
        for model in client.list_models():
            default = " (default)" if model.default else ""
            size = "x".join(str(side) for side in model.input_size)
            print(f"{model.name}{default}  versions {', '.join(model.versions)}  input {size}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="deepfake", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    root.add_argument(
        "--api",
        default=os.environ.get("DEEPFAKE_API", "http://127.0.0.1:8080"),
        help="the service's URL (env DEEPFAKE_API, default %(default)s)",
    )
    root.add_argument(
        "--api-key",
        default=os.environ.get("DEEPFAKE_API_KEY"),
        help="an API key, dfk_... (env DEEPFAKE_API_KEY)",
    )
    commands = root.add_subparsers(dest="command", required=True)
    scan_cmd = commands.add_parser("scan", help="judge images")
    scan_cmd.add_argument("inputs", nargs="*", help="image files, folders or http(s) URLs")
    scan_cmd.add_argument("--urls-file", type=Path, help="a file with one URL per line")
    scan_cmd.add_argument("--model", help="detector name (see `deepfake models`)")
    scan_cmd.add_argument("--mode", choices=["faces", "whole_image"])
    scan_cmd.add_argument("--webhook", help="callback URL for each job's events")
    scan_cmd.add_argument(
        "--wait", action=argparse.BooleanOptionalAction, default=True, help="wait for results"
    )
    scan_cmd.add_argument("--format", choices=["table", "jsonl", "csv"], default="table")
    scan_cmd.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    scan_cmd.add_argument("--concurrency", type=int, default=8)
    scan_cmd.add_argument("--timeout", type=float, default=300.0, help="seconds per job")
    scan_cmd.set_defaults(handler=scan)
    models_cmd = commands.add_parser("models", help="list the served detectors")
    models_cmd.set_defaults(handler=models)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
