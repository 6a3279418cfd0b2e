"""`deepfake reviews ...`: record and list reviewers' labels and export the labelled set;
`deepfake explain`: a job's occlusion maps, written as PNG overlays."""

from pathlib import Path
from typing import Annotated, Literal, get_args

import typer
from rich.console import Console
from rich.text import Text

from deepfake_client.cli.app import app, print_json, service
from deepfake_client.cli.output import print_table
from deepfake_client.routes import ExportFormat

reviews_app = typer.Typer(
    help="Reviewers' labels, and the labelled set for retraining.", no_args_is_help=True
)
app.add_typer(reviews_app, name="reviews")

Label = Literal["fake", "real", "unsure"]

_REVIEW_COLUMNS = ["id", "label", "face", "agreement", "reviewer", "created_at", "note"]
_FACE_COLUMNS = ["index", "box", "fake_probability", "max_drop", "file"]

stderr = Console(stderr=True)


@reviews_app.command("add")
def add_review(
    ctx: typer.Context,
    job_id: str,
    label: Annotated[Label, typer.Option(help="fake, real or unsure")],
    face: Annotated[
        int | None, typer.Option(help="A face's index in the result (default: the image).")
    ] = None,
    note: Annotated[str, typer.Option(help="Up to 2,000 characters.")] = "",
) -> int:
    """Record a label for a judged job's image, or one of its faces; prints the review."""
    with service(ctx).client() as api:
        review = api.create_review(job_id, label, face=face, note=note)
    print_json(review.model_dump(mode="json"))
    return 0


@reviews_app.command("list")
def list_reviews(ctx: typer.Context, job_id: str) -> int:
    """A job's reviews, newest first."""
    with service(ctx).client() as api:
        reviews = api.list_reviews(job_id)
    print_table([review.model_dump() for review in reviews], _REVIEW_COLUMNS)
    return 0


def _format_of(path: Path) -> ExportFormat:
    suffix = path.suffix.lower().lstrip(".")
    return "csv" if suffix == "csv" else "zip" if suffix == "zip" else "jsonl"


@reviews_app.command("export")
def export_reviews(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write.")],
    fmt: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format",
            help=f"{', '.join(get_args(ExportFormat))} (default: from the file's suffix, "
            "else jsonl); zip holds manifest.jsonl and the images.",
        ),
    ] = None,
) -> int:
    """The latest label of each reviewed job and face, streamed to a file."""
    chosen = fmt or _format_of(output)
    with service(ctx).client() as api:
        written = api.export_reviews(output, format=chosen)
    stderr.print(f"wrote {written} ({chosen}, {written.stat().st_size} bytes)")
    return 0


@app.command()
def explain(
    ctx: typer.Context,
    job_id: str,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Where the overlays go.")
    ] = Path("."),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for it.")] = 120.0,
) -> int:
    """Explain a succeeded job's score: each face's overlay, written as a PNG.

    Asks for the explanation, waits for it, and writes each face's overlay (the heat map
    over the crop the model saw) as <JOB_ID>-face<N>.png; exits 1 if it failed."""
    rows = []
    with service(ctx).client() as api:
        asked = api.request_explanation(job_id)
        explanation = asked if asked.done else api.wait_explanation(job_id, timeout_s=timeout)
        if explanation.error is not None or explanation.status != "ready":
            error = explanation.error
            reason = f"{error.code}: {error.message}" if error else explanation.status
            stderr.print(Text.assemble(("error: ", "red"), f"explanation {reason}"))
            return 1
        output_dir.mkdir(parents=True, exist_ok=True)
        for face in explanation.faces:
            path = output_dir / f"{job_id}-face{face.index}.png"
            path.write_bytes(api.get_explanation_image(job_id, face.index))
            box = "image" if face.box is None else " ".join(map(str, face.box))
            rows.append({**face.model_dump(), "box": box, "file": str(path)})
    print_table(rows, _FACE_COLUMNS)
    return 0
