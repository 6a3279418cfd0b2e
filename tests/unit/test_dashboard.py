"""The Grafana dashboard parses, uses its datasource variable, and queries only what exists."""

from collections.abc import Iterable

from prometheus_client.metrics_core import Metric

from gateway.metrics import GatewayMetrics, StoreState, state_families
from gateway.settings import MetricsSettings
from tests.dashboard import load_dashboard, panels, queried_metrics
from worker import metrics as worker_metrics

_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _sample_names(families: Iterable[Metric]) -> set[str]:
    return {family.name + suffix for family in families for suffix in _SUFFIXES[family.type]}


def _exported() -> set[str]:
    gateway = GatewayMetrics(MetricsSettings())
    state = StoreState(jobs={"queued": 0}, queues={"fetch": 0}, unacked=0)
    return (
        _sample_names(gateway.registry.collect())
        | _sample_names(state_families(state))
        | _sample_names(worker_metrics.REGISTRY.collect())
    )


def test_every_metric_of_ours_the_dashboard_queries_is_exported() -> None:
    queried = queried_metrics(load_dashboard(), "deepfake_")
    assert queried, "the dashboard queries none of our metrics"
    assert queried <= _exported(), queried - _exported()


def test_it_queries_tritons_batching_queue_and_compute_metrics() -> None:
    queried = queried_metrics(load_dashboard(), "nv_")
    assert {
        "nv_inference_count",
        "nv_inference_exec_count",
        "nv_inference_request_success",
        "nv_inference_queue_duration_us",
        "nv_inference_compute_infer_duration_us",
    } <= queried


def test_every_query_uses_the_datasource_variable() -> None:
    dashboard = load_dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for panel in panels(dashboard):
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]


def test_panel_ids_are_unique() -> None:
    ids = [panel["id"] for panel in load_dashboard()["panels"]]
    assert len(ids) == len(set(ids))
