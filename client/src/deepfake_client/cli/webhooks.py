"""`deepfake webhooks ...`: register endpoints, rotate secrets, inspect and redeliver
deliveries, and `listen`: a local receiver that verifies every event it is sent."""

import json
import queue
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from deepfake_client.cli.app import app, print_json, service
from deepfake_client.cli.output import print_table
from deepfake_client.cli.receiver import Rejected, listening
from deepfake_client.webhooks import WebhookEvent

webhooks_app = typer.Typer(help="Webhook endpoints, deliveries, and a local receiver.")
app.add_typer(webhooks_app, name="webhooks")

_ENDPOINT_COLUMNS = ["id", "url", "event_types", "disabled", "failing_since"]
_DELIVERY_COLUMNS = ["id", "event_type", "status", "attempt_count", "job_id", "updated_at"]


@webhooks_app.command("list")
def list_webhooks(ctx: typer.Context) -> int:
    """The registered endpoints."""
    with service(ctx).client() as api:
        endpoints = api.list_webhooks()
    rows = [{**e.model_dump(), "event_types": ",".join(e.event_types)} for e in endpoints]
    print_table(rows, _ENDPOINT_COLUMNS)
    return 0


@webhooks_app.command("create")
def create_webhook(
    ctx: typer.Context,
    url: str,
    event: Annotated[
        list[str] | None,
        typer.Option(help="An event type, again for several (default: job.succeeded, job.failed)."),
    ] = None,
    description: Annotated[str | None, typer.Option()] = None,
) -> int:
    """Register an endpoint; prints its secret, which is shown only this once."""
    with service(ctx).client() as api:
        created = api.create_webhook(
            url, event or ["job.succeeded", "job.failed"], description=description
        )
    print_json(created.model_dump(mode="json"))
    return 0


@webhooks_app.command("delete")
def delete_webhook(ctx: typer.Context, webhook_id: str) -> int:
    """Remove an endpoint; it receives no more events."""
    with service(ctx).client() as api:
        api.delete_webhook(webhook_id)
    return 0


@webhooks_app.command("enable")
def enable_webhook(ctx: typer.Context, webhook_id: str) -> int:
    """Take a disabled endpoint back into use."""
    with service(ctx).client() as api:
        print_json(api.enable_webhook(webhook_id).model_dump(mode="json"))
    return 0


@webhooks_app.command("rotate-secret")
def rotate_secret(ctx: typer.Context, webhook_id: str) -> int:
    """A new secret (printed once); the old one also signs for the grace period."""
    with service(ctx).client() as api:
        print_json(api.rotate_webhook_secret(webhook_id).model_dump(mode="json"))
    return 0


@webhooks_app.command("callback-secret")
def callback_secret(
    ctx: typer.Context,
    rotate: Annotated[bool, typer.Option(help="Rotate it first.")] = False,
) -> int:
    """The secret that signs deliveries to this tenant's callback_url."""
    with service(ctx).client() as api:
        secret = api.rotate_callback_secret() if rotate else api.get_callback_secret()
    print_json(secret.model_dump(mode="json"))
    return 0


@webhooks_app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    endpoint_id: Annotated[str | None, typer.Option()] = None,
    job_id: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option(help="pending, succeeded or failed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> int:
    """Deliveries, most recent first."""
    with service(ctx).client() as api:
        found = api.list_deliveries(
            endpoint_id=endpoint_id, job_id=job_id, status=status, limit=limit
        )
    print_table([d.model_dump() for d in found], _DELIVERY_COLUMNS)
    return 0


@webhooks_app.command("delivery")
def delivery(ctx: typer.Context, delivery_id: str) -> int:
    """One delivery with every attempt and its payload, as JSON."""
    with service(ctx).client() as api:
        print_json(api.get_delivery(delivery_id).model_dump(mode="json"))
    return 0


@webhooks_app.command("redeliver")
def redeliver(ctx: typer.Context, delivery_id: str) -> int:
    """Send a finished delivery again."""
    with service(ctx).client() as api:
        print_json(api.redeliver(delivery_id).model_dump(mode="json"))
    return 0


def _describe(event: WebhookEvent) -> Text:
    data = event.data
    what = data.get("id", "")
    if (job := event.job) is not None:
        verdict = job.result.verdict if job.result else (job.error.code if job.error else "")
        what = f"{job.id} {job.status} {verdict}"
    elif event.type == "batch.completed":
        what = f"{data.get('id')} total {data.get('total')} counts {data.get('counts')}"
    return Text.assemble((event.type, "bold green"), f"  {event.message_id}  {what}")


@webhooks_app.command("listen")
def listen(
    secret: Annotated[
        list[str],
        typer.Option(
            envvar="DEEPFAKE_WEBHOOK_SECRET",
            help="whsec_... to verify with; again for several (while one rotates).",
        ),
    ],
    port: Annotated[int, typer.Option(help="0: any free port.")] = 8765,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Append verified events (JSONL).")
    ] = None,
    max_events: Annotated[
        int | None, typer.Option(help="Stop after this many verified events.")
    ] = None,
) -> int:
    """Receive events locally, verify their signatures and print them (Ctrl-C stops).

    Point an endpoint (`deepfake webhooks create http://HOST:PORT/`) or a job's
    callback_url at it; the service must be allowed to reach it."""
    console = Console()
    events: queue.Queue[WebhookEvent] = queue.Queue()

    def rejected(refusal: Rejected) -> None:
        message_id = refusal.headers.get("webhook-id", "?")
        console.print(Text.assemble(("rejected", "bold red"), f"  {message_id}  {refusal.reason}"))

    with listening(host, port, secret, events.put, rejected) as server:
        Console(stderr=True).print(f"listening on http://{host}:{server.server_port}/")
        received = 0
        sink = None if output is None else output.open("a", encoding="utf-8")
        try:
            while max_events is None or received < max_events:
                try:
                    event = events.get(timeout=0.5)
                except queue.Empty:
                    continue
                received += 1
                console.print(_describe(event))
                if sink is not None:
                    sink.write(json.dumps(event.model_dump(mode="json")) + "\n")
                    sink.flush()
        finally:
            if sink is not None:
                sink.close()
    return 0
