"""The alerts and the Grafana dashboard: promtool-tested rules on metrics that exist.

- deploy/components/prometheusrule passes `promtool check rules` and the promtool unit
  tests of tests/alerts/ (synthetic series), with a firing and a silent case per alert;
  a changed threshold fails them, so they test something.
- Every metric named in an alert expression or a dashboard query is one that the
  operator's /metrics really serves: the real HTTP server on a Metrics whose every
  metric holds a sample.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from hostns.core.exceptions import compile_exception
from hostns.live.exception_statuses import ExceptionStatuses
from hostns.live.metrics import Metrics, start_server
from tests.rooms.fakes import FakeKube
from tests.tools import go_tool

REPO = Path(__file__).resolve().parents[2]
RULE = REPO / "deploy" / "components" / "prometheusrule" / "prometheusrule.yaml"
PROMTOOL_TESTS = REPO / "tests" / "alerts"
DASHBOARD = REPO / "deploy" / "grafana" / "hostns-operator.json"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


# --- the rules under promtool --------------------------------------------------------


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULE.read_text())["spec"]["groups"]
    return groups


def alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in rule_groups() for r in g["rules"] if "alert" in r}


def promtool_dir(tmp_path: Path, groups: list[dict[str, Any]]) -> Path:
    """rules.yaml (the PrometheusRule's groups, as Prometheus reads a rule file) beside
    copies of the promtool test files."""
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    for test in PROMTOOL_TESTS.glob("*.yaml"):
        shutil.copy(test, tmp_path / test.name)
    return tmp_path


def promtool(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([go_tool("promtool"), *args], cwd=where, capture_output=True,
                          text=True, timeout=300, check=False)


def test_deploy_ships_the_alerts_the_issue_asks_for_and_one_for_the_reports() -> None:
    assert set(alerts()) == {
        "HostNamespaceViolation", "HostnsOperatorDown", "HostnsPodWatchStale",
        "HostNamespaceExceptionExpiringSoon", "HostNamespaceExceptionUnused",
        "HostNamespaceExceptionInvalid", "HostnsReportsFailing",
    }
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        assert {"summary", "description"} <= set(rule["annotations"]), name


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    done = promtool(promtool_dir(tmp_path, rule_groups()), "check", "rules", "rules.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in done.stdout


def test_every_alert_passes_its_promtool_unit_tests(tmp_path: Path) -> None:
    files = sorted(p.name for p in PROMTOOL_TESTS.glob("*.yaml"))
    done = promtool(promtool_dir(tmp_path, rule_groups()), "test", "rules", *files)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(files), done.stdout


def _alert_cases() -> Iterator[tuple[str, bool]]:
    for test_file in PROMTOOL_TESTS.glob("*.yaml"):
        for test in yaml.safe_load(test_file.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                yield case["alertname"], bool(case.get("exp_alerts"))


def test_every_alert_is_tested_where_it_fires_and_where_it_must_not() -> None:
    cases = set(_alert_cases())
    for name in alerts():
        assert (name, True) in cases, f"no promtool case where {name} fires"
        assert (name, False) in cases, f"no promtool case where {name} stays silent"


@pytest.mark.parametrize(("alert", "old", "new"), [
    ("HostnsPodWatchStale", "> 600", "> 6000"),
    ("HostNamespaceExceptionExpiringSoon", "< 7 * 86400", "< 8 * 86400"),
    ("HostNamespaceExceptionUnused", "unless", "or"),
])
def test_a_changed_rule_fails_the_promtool_tests(
    tmp_path: Path, alert: str, old: str, new: str
) -> None:
    groups = rule_groups()
    (rule,) = [r for g in groups for r in g["rules"] if r.get("alert") == alert]
    assert old in rule["expr"]
    rule["expr"] = rule["expr"].replace(old, new)
    files = sorted(p.name for p in PROMTOOL_TESTS.glob("*.yaml") if alert in p.read_text())
    done = promtool(promtool_dir(tmp_path, groups), "test", "rules", *files)
    assert done.returncode != 0, done.stdout
    assert alert in done.stdout + done.stderr


# --- metric names in PromQL ---------------------------------------------------------

# Aggregation modifiers and binary-operator keywords: identifiers that name no metric.
KEYWORDS = frozenset({
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
    "unless", "bool", "offset", "inf", "nan",
})


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers that are not functions (an
    identifier before `(`), keywords, label names (in `{...}` or a `by (...)` list),
    durations (`[...]`), strings or Grafana variables."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(?=\s*([(]?))", text):
        name, after = match.group(1), match.group(2)
        if after != "(" and name.lower() not in KEYWORDS:
            names.add(name)
    return names


def test_metric_names_are_found_and_functions_labels_and_keywords_are_not() -> None:
    expr = ('histogram_quantile(0.99, sum by (le) (rate(hostns_evaluation_seconds_bucket'
            '{job="x", verdict=~"Vio.*"}[$__rate_interval]))) > 0 and on(exception) '
            'time() - hostns_leader offset 5m unless absent(up) or 7 * 86400')
    assert metric_names(expr) == {"hostns_evaluation_seconds_bucket", "hostns_leader", "up"}


def dashboard_queries() -> Iterator[tuple[str, str]]:
    def walk(panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            for target in panel.get("targets", []):
                yield panel["title"], target["expr"]
            yield from walk(panel.get("panels", []))

    yield from walk(json.loads(DASHBOARD.read_text())["panels"])


async def test_the_dashboard_and_the_alerts_name_only_metrics_that_metrics_serves(
    unused_tcp_port: int,
) -> None:
    served = await served_sample_names(unused_tcp_port)
    queries = [(f"alert {name}", rule["expr"]) for name, rule in alerts().items()]
    queries += [(f"panel {title!r}", expr) for title, expr in dashboard_queries()]
    named = {(where, name) for where, expr in queries for name in metric_names(expr)}
    assert {"hostns_exception_covered_workloads", "hostns_evaluation_seconds_bucket",
            "hostns_pod_watch_last_event_timestamp_seconds"} <= {n for _, n in named}
    missing = sorted(f"{where}: {name}" for where, name in named if name not in served)
    assert not missing, "not on /metrics:\n" + "\n".join(missing)


def test_a_misspelt_metric_would_be_reported() -> None:
    assert metric_names("sum(rate(hostns_pods_evaluatd_total[5m]))") == {
        "hostns_pods_evaluatd_total"}


async def served_sample_names(port: int) -> set[str]:
    """The sample names of a real /metrics response once every metric holds a sample."""
    metrics = Metrics()
    metrics.pods_evaluated.inc()
    metrics.pod_listings.inc()
    metrics.evaluation_seconds.observe(0.0002)
    metrics.api_writes.labels("HostNamespaceFinding", "create").inc()
    metrics.api_errors.labels("watch_pods").inc()
    metrics.leader.set(1)
    metrics.set_findings({("Violation", "hostNetwork"): 1})
    metrics.transitions.labels("Violation").inc()
    metrics.pod_watch_activity.labels("*").set_to_current_time()
    metrics.audit_requests.labels("accepted").inc()
    statuses = ExceptionStatuses(FakeKube(), metrics, lambda: NOW)  # type: ignore[arg-type]
    await statuses.update({"debug": compile_exception({
        "metadata": {"name": "debug"},
        "spec": {"reason": "why", "images": ["nginx"], "expiresAt": "2026-11-29T12:00:00Z"},
    })}, {"debug": 1})
    runner = await start_server(metrics, port, lambda: True, host="127.0.0.1")
    try:
        async with aiohttp.ClientSession() as session, \
                session.get(f"http://127.0.0.1:{port}/metrics") as response:
            assert response.status == 200
            text = await response.text()
    finally:
        await runner.cleanup()
    families = list(text_string_to_metric_families(text))
    empty = sorted(f.name for f in families if not f.samples)
    assert not empty, f"populate every metric in this test: {empty}"
    return {sample.name for family in families for sample in family.samples}


def test_the_dashboard_reads_the_chosen_prometheus_and_its_panels_do_not_overlap() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    (variable,) = dashboard["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource", "datasource", "prometheus")
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and all(t["datasource"]["uid"] == "${datasource}"
                                        for t in panel["targets"]), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
