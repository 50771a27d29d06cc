"""Prometheus metrics, /healthz (liveness) and /readyz (readiness), on one small HTTP server."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hostns.core.evaluation import Verdict
from hostns.core.exceptions import CompiledException, ExceptionState
from hostns.core.rules import FLAGS

FINDING_VERDICTS = (str(Verdict.VIOLATION), str(Verdict.EXCEPTED), str(Verdict.RESOLVED))

# The watch_namespace label of a watch of the whole cluster: "*" is no namespace name.
ALL_NAMESPACES = "*"


class Metrics:
    """One registry per operator instance (tests run several in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.pods_evaluated = Counter(
            "hostns_pods_evaluated_total",
            "Pod events evaluated (compliant ones included).",
            registry=self.registry,
        )
        self.pod_listings = Counter(
            "hostns_pod_listings_total",
            "Complete pod LISTs (the first, after a 410 Gone, periodic re-lists).",
            registry=self.registry,
        )
        self.evaluation_seconds = Histogram(
            "hostns_evaluation_seconds",
            "Time to evaluate one pod event.",
            buckets=(0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05),
            registry=self.registry,
        )
        self.api_writes = Counter(
            "hostns_api_writes_total",
            "Write requests sent to the Kubernetes API, by object kind and verb.",
            ["kind", "verb"],
            registry=self.registry,
        )
        self.api_errors = Counter(
            "hostns_api_errors_total",
            "Failed Kubernetes API requests, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "hostns_leader",
            "1 while this process runs the operator (always, without leader election); "
            "0 while it stands by for the Lease.",
            registry=self.registry,
        )
        self.findings = Gauge(
            "hostns_findings",
            "Findings by verdict and host namespace.",
            ["verdict", "host_namespace"],
            registry=self.registry,
        )
        self.transitions = Counter(
            "hostns_verdict_transitions_total",
            "Finding verdict changes, by new verdict.",
            ["verdict"],
            registry=self.registry,
        )
        # Every verdict's series exists from the start at 0: `increase()` over a counter
        # that first appears at 1 sees no increase, and the first Violation after a
        # restart would raise no alert.
        for verdict in FINDING_VERDICTS:
            self.transitions.labels(verdict)
        self.pod_watch_activity = Gauge(
            "hostns_pod_watch_last_event_timestamp_seconds",
            "Unix time of the last sign of life of the pod stream, by watched namespace "
            "(* = all): a watch event or bookmark, a listed page, or a watch the server "
            "ended on time (a quiet watch gets a bookmark about once a minute).",
            ["watch_namespace"],
            registry=self.registry,
        )
        self.per_exception = ExceptionCollector()
        self.registry.register(self.per_exception)
        self.exceptions = Gauge(
            "hostns_exceptions",
            "HostNamespaceExceptions known, by state.",
            ["state"],
            registry=self.registry,
        )

        self.reports_failing = Gauge(
            "hostns_reports_failing",
            "1 while the OpenReports Reports cannot be kept in step with the findings "
            "(Report CRD missing, forbidden, API errors; retried with back-off), else 0.",
            registry=self.registry,
        )

        self.audit_requests = Counter(
            "hostns_audit_webhook_requests_total",
            "Audit webhook requests, by outcome: accepted, ignored (no pod or template write "
            "in the batch), unauthorized (401), too_large (413), malformed (400), overflow "
            "(429: the queue to the attribution room was full), standby (503).",
            ["outcome"],
            registry=self.registry,
        )
        self.audit_actors = Counter(
            "hostns_audit_actors_total",
            "Pod and pod-template writes taken from audit events and recorded as actors.",
            registry=self.registry,
        )
        self.audit_bad_events = Counter(
            "hostns_audit_bad_batches_total",
            "Queued audit batches the attribution room could not read.",
            registry=self.registry,
        )

    def set_findings(self, counts: Mapping[tuple[str, str], int]) -> None:
        for verdict in FINDING_VERDICTS:
            for flag in FLAGS:
                self.findings.labels(verdict, flag).set(counts.get((verdict, flag), 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class ExceptionCollector(Collector):
    """Per-exception series, computed at each scrape from the last snapshot.

    Exceptions are few (cluster administrators write them), so the exception's name is
    a label; workloads never are. State and seconds until expiry are read at scrape
    time, so an exception expires on the dashboard when it expires, not at the next
    status refresh. Before the first complete pod listing there is no snapshot, and no
    series: a coverage count of a partial picture would be wrong.
    """

    def __init__(self) -> None:
        self._exceptions: dict[str, CompiledException] = {}
        self._covered: dict[str, int] = {}
        self._clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def set(
        self,
        exceptions: Mapping[str, CompiledException],
        covered: Mapping[str, int],
        clock: Callable[[], datetime],
    ) -> None:
        """Replace the snapshot: a deleted exception's series go with it."""
        self._exceptions = dict(exceptions)
        self._covered = {name: covered.get(name, 0) for name in exceptions}
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        covered = GaugeMetricFamily(
            "hostns_exception_covered_workloads",
            "Open (Violation or Excepted) findings this exception applied to, by exception.",
            labels=["exception"],
        )
        expires = GaugeMetricFamily(
            "hostns_exception_expires_in_seconds",
            "Seconds until the exception's spec.expiresAt (negative once passed), by "
            "exception; no series for an exception that never expires.",
            labels=["exception"],
        )
        state = GaugeMetricFamily(
            "hostns_exception_state",
            "1 for the exception's state (Active, Expired, Invalid), 0 for the others.",
            labels=["exception", "state"],
        )
        for name, exception in sorted(self._exceptions.items()):
            covered.add_metric([name], self._covered.get(name, 0))
            if exception.error is None and exception.expires_at is not None:
                expires.add_metric([name], (exception.expires_at - now).total_seconds())
            current = exception.state(now)
            for each in ExceptionState:
                state.add_metric([name, str(each)], 1.0 if each == current else 0.0)
        yield covered
        yield expires
        yield state


async def start_server(
    metrics: Metrics,
    port: int,
    healthy: Callable[[], bool],
    host: str = "0.0.0.0",
    ready: Callable[[], bool] | None = None,
) -> web.AppRunner:
    """Serve /metrics, /healthz and /readyz; returns the runner to clean up.

    /healthz: the process works (its loops run, or it stands by). /readyz: it has
    a complete picture — the first pod listing is handled and the watches run.
    """

    async def metrics_view(_: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    async def health_view(_: web.Request) -> web.Response:
        if healthy():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="unhealthy\n")

    async def ready_view(_: web.Request) -> web.Response:
        if (ready or healthy)():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", health_view)
    app.router.add_get("/readyz", ready_view)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
