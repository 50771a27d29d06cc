"""Prometheus metrics, /healthz (liveness) and /readyz (readiness), on one small HTTP server."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from hostns.core.rules import FLAGS


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
        for verdict in ("Violation", "Excepted", "Resolved"):
            for flag in FLAGS:
                self.findings.labels(verdict, flag).set(counts.get((verdict, flag), 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


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
