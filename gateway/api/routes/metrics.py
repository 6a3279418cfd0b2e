"""Prometheus' scrape target; left out of the API schema, open like the health checks."""

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.api.deps import ClientsDep
from gateway.metrics import GatewayMetrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, clients: ClientsDep) -> Response:
    gateway_metrics: GatewayMetrics = request.app.state.metrics
    body = await gateway_metrics.render(clients.jobs, clients.redis)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
