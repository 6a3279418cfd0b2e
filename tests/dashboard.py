"""The Grafana dashboard as the tests see it: its panels and the metric names it queries."""

import json
import re
from pathlib import Path
from typing import Any

from devstack.stack import REPO_ROOT

DASHBOARD = REPO_ROOT / "monitoring" / "grafana" / "deepfake-detection.json"
_METRIC = re.compile(r"\b((?:deepfake|nv)_[a-z0-9_]+)")


def load_dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that queries, rows left out."""
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def queried_metrics(dashboard: dict[str, Any], prefix: str) -> set[str]:
    """Sample names (`..._bucket`, `..._total`) starting with `prefix` in the queries."""
    return {
        name
        for panel in panels(dashboard)
        for target in panel["targets"]
        for name in _METRIC.findall(target["expr"])
        if name.startswith(prefix)
    }
