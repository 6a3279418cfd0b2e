"""Run a labelled folder through the running service and report how well it detects fakes.

    python -m evaluation --data DIR [--api http://127.0.0.1:8080] [--out evaluation-report]

DIR holds `real/` and `fake/` sub-folders of images. Each image is uploaded as a job; the
report (accuracy, precision, recall, F1, ROC AUC, confusion matrix, per-image scores) goes
to OUT/metrics.json and the ROC curve to OUT/roc.png. Images where no face was found
(verdict no_face, no score) are left out of the metrics and counted as `no_face`.
"""

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from evaluation.metrics import evaluate
from evaluation.plot import draw_roc

LABELS = {"real": False, "fake": True}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp"}


@dataclass(frozen=True)
class Outcome:
    path: Path
    fake: bool
    job: dict[str, Any]


def labelled_images(root: Path) -> list[tuple[Path, bool]]:
    images = [
        (path, is_fake)
        for folder, is_fake in LABELS.items()
        for path in sorted((root / folder).glob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not images:
        raise SystemExit(f"no images under {root}/real or {root}/fake")
    return images


def run_job(
    client: httpx.Client, path: Path, model: str | None, timeout_s: float
) -> dict[str, Any]:
    data = {"model": model} if model else {}
    response = client.post("/v1/jobs", files={"file": (path.name, path.read_bytes())}, data=data)
    if response.status_code != 202:
        return {"status": "rejected", "error": response.json().get("error")}
    job_id = response.json()["id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    return {"id": job_id, "status": "timed_out"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="folder with real/ and fake/")
    parser.add_argument("--api", default="http://127.0.0.1:8080", help="the gateway's URL")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("DEEPFAKE_API_KEY"),
        help="an API key, dfk_... (env DEEPFAKE_API_KEY)",
    )
    parser.add_argument("--out", type=Path, default=Path("evaluation-report"))
    parser.add_argument("--model", help="detector to evaluate (default: the service's)")
    parser.add_argument("--threshold", type=float, default=0.5, help="fake at or above")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per job")
    args = parser.parse_args(argv)

    images = labelled_images(args.data)
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    with (
        httpx.Client(base_url=args.api, timeout=30, headers=headers) as client,
        ThreadPoolExecutor(args.concurrency) as pool,
    ):
        jobs = list(
            pool.map(lambda item: run_job(client, item[0], args.model, args.timeout), images)
        )
    outcomes = [Outcome(path, fake, job) for (path, fake), job in zip(images, jobs, strict=True)]
    report = summarise(outcomes, args.threshold, args.model, args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    draw_roc(report["roc_curve"], report["roc_auc"], args.out / "roc.png")
    print(
        f"{report['count']} scored, {report['no_face']} with no face (not scored), "
        f"{report['failed']} failed; accuracy {report['accuracy']:.3f}, "
        f"precision {report['precision']:.3f}, recall {report['recall']:.3f}, "
        f"F1 {report['f1']:.3f}, ROC AUC {report['roc_auc']}; "
        f"report in {args.out}/metrics.json and {args.out}/roc.png"
    )
    return 1 if report["failed"] else 0


def summarise(
    outcomes: list[Outcome], threshold: float, model: str | None, root: Path
) -> dict[str, Any]:
    """The metrics over the images that got a score, and what became of every image.

    A job that succeeded with no score (`no_face`: face mode found no face to judge) says
    nothing about the detector: it is left out of the metrics and counted as `no_face`.
    """
    succeeded = [o for o in outcomes if o.job["status"] == "succeeded"]
    scored = [o for o in succeeded if o.job["result"].get("fake_probability") is not None]
    report = evaluate(
        [o.fake for o in scored], [o.job["result"]["fake_probability"] for o in scored], threshold
    ).as_dict()
    report["no_face"] = len(succeeded) - len(scored)
    report["failed"] = len(outcomes) - len(succeeded)
    report["model"] = succeeded[0].job["result"]["model_name"] if succeeded else model
    report["items"] = [
        {
            "path": str(o.path.relative_to(root)),
            "label": "fake" if o.fake else "real",
            "status": o.job["status"],
            "verdict": (o.job.get("result") or {}).get("verdict"),
            "fake_probability": (o.job.get("result") or {}).get("fake_probability"),
            "error": o.job.get("error"),
        }
        for o in outcomes
    ]
    return report


if __name__ == "__main__":
    sys.exit(main())
