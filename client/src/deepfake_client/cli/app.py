"""The `deepfake` command: its options, `models`, `jobs ...` and `batches ...`; `scan`,
`batch`, `webhooks ...`, `reviews ...` and `explain` live in their own modules."""

from dataclasses import dataclass
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.text import Text

from deepfake_client.calls import JobFilters
from deepfake_client.cli.output import print_table
from deepfake_client.client import DetectionClient
from deepfake_client.errors import ClientError
from deepfake_client.transport import DEFAULT_API

app = typer.Typer(
    name="deepfake",
    help="Judge images with a deepfake detection service, review and explain its verdicts, and "
    "manage its jobs, batches and webhooks.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
jobs_app = typer.Typer(help="List, show and delete jobs.", no_args_is_help=True)
batches_app = typer.Typer(help="List, show, cancel and delete batches.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(batches_app, name="batches")

stderr = Console(stderr=True)


@dataclass(frozen=True)
class Service:
    api: str
    api_key: str | None

    def client(self) -> DetectionClient:
        return DetectionClient(self.api, api_key=self.api_key)


def service(ctx: typer.Context) -> Service:
    found: Service = ctx.find_root().obj
    return found


@app.callback()
def root(
    ctx: typer.Context,
    api: Annotated[
        str, typer.Option(envvar="DEEPFAKE_API", help="The service's URL.")
    ] = DEFAULT_API,
    api_key: Annotated[
        str | None, typer.Option(envvar="DEEPFAKE_API_KEY", help="An API key, dfk_...")
    ] = None,
) -> None:
    ctx.obj = Service(api, api_key)


def print_json(value: Any) -> None:
    Console().print_json(data=value)


@app.command()
def models(ctx: typer.Context) -> int:
    """The detectors the service runs."""
    with service(ctx).client() as api:
        for model in api.list_models():
            default = " (default)" if model.default else ""
            size = "x".join(str(side) for side in model.input_size)
            typer.echo(f"{model.name}{default}  versions {', '.join(model.versions)}  input {size}")
    return 0


@jobs_app.command("list")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="queued, ..., succeeded, failed")] = None,
    verdict: Annotated[str | None, typer.Option(help="fake, real, uncertain, no_face")] = None,
    model: Annotated[str | None, typer.Option()] = None,
    batch_id: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(help="At most this many jobs, newest first.")] = 50,
) -> int:
    """The tenant's jobs, newest first."""
    filters: JobFilters = {}
    if status is not None:
        filters["status"] = status
    if verdict is not None:
        filters["verdict"] = verdict
    if model is not None:
        filters["model"] = model
    if batch_id is not None:
        filters["batch_id"] = batch_id
    rows = []
    with service(ctx).client() as api:
        for job in api.iter_jobs(page_size=min(limit, 200), **filters):
            result = job.result
            rows.append(
                {
                    "job_id": job.id,
                    "status": job.status,
                    "verdict": result.verdict if result else None,
                    "fake_probability": result.fake_probability if result else None,
                    "created_at": job.created_at,
                }
            )
            if len(rows) >= limit:
                break
    print_table(rows, ["job_id", "status", "verdict", "fake_probability", "created_at"])
    return 0


@jobs_app.command("get")
def get_job(
    ctx: typer.Context,
    job_id: str,
    wait: Annotated[bool, typer.Option(help="Wait for the job to end.")] = False,
) -> int:
    """One job, as JSON."""
    with service(ctx).client() as api:
        job = api.wait(job_id) if wait else api.get_job(job_id)
    print_json(job.model_dump(mode="json"))
    return 0


@jobs_app.command("delete")
def delete_job(ctx: typer.Context, job_id: str) -> int:
    """Delete the job, its result and its image, for good."""
    with service(ctx).client() as api:
        api.delete_job(job_id)
    return 0


@batches_app.command("list")
def list_batches(
    ctx: typer.Context, limit: Annotated[int, typer.Option(help="At most this many.")] = 20
) -> int:
    """The tenant's batches, newest first, with their progress."""
    rows = []
    with service(ctx).client() as api:
        for batch in api.iter_batches(page_size=min(limit, 100)):
            rows.append({**batch.model_dump(), "finished": batch.finished})
            if len(rows) >= limit:
                break
    columns = ["id", "total", "finished", "invalid_rows", "completed_at", "created_at"]
    print_table(rows, columns)
    return 0


@batches_app.command("get")
def get_batch(ctx: typer.Context, batch_id: str) -> int:
    """One batch, as JSON."""
    with service(ctx).client() as api:
        print_json(api.get_batch(batch_id).model_dump(mode="json"))
    return 0


@batches_app.command("cancel")
def cancel_batch(ctx: typer.Context, batch_id: str) -> int:
    """Queued jobs fail with `cancelled`; running ones finish."""
    with service(ctx).client() as api:
        print_json(api.cancel_batch(batch_id).model_dump(mode="json"))
    return 0


@batches_app.command("delete")
def delete_batch(ctx: typer.Context, batch_id: str) -> int:
    """Delete the batch and every job of it, for good."""
    with service(ctx).client() as api:
        api.delete_batch(batch_id)
    return 0


def _usage_error() -> type[Exception]:
    """The base of the usage errors the command line raises: click's `ClickException`, of
    the copy of click typer carries (newer typer) or of click itself (older typer)."""
    return next(base for base in typer.BadParameter.__mro__ if base.__name__ == "ClickException")


def run(argv: list[str] | None) -> int:
    # The sub-commands register themselves on `app` when imported.
    from deepfake_client.cli import batch, reviews, scan, webhooks  # noqa: F401

    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="deepfake", standalone_mode=False)
    except _usage_error() as error:
        usage = cast(Any, error)  # show() and exit_code, as click defines them
        usage.show()
        return int(usage.exit_code)
    except typer.Abort:
        stderr.print("interrupted")
        return 130
    except ClientError as error:
        stderr.print(Text.assemble(("error: ", "red"), str(error)))
        return 1
    return result if isinstance(result, int) else 0
