"""kopf handlers: a thin shell that hands watch events to the Controller.

Only `on.event` handlers are used on pods and exceptions. kopf's change
handlers (create/update/resume) write annotations to the objects they handle,
and its daemons and timers add finalizers: none of them may touch a pod, so
none of them is used. Event handlers return None, so kopf stores nothing.
"""

from __future__ import annotations

from typing import Any

import kopf
from kopf._core.reactor.inventory import ResourceMemories, ResourceMemory

from hostns.controller import Controller
from hostns.findings import GROUP, VERSION
from hostns.kube import EXCEPTIONS_PLURAL

WORKER_LIMIT = 500
WATCH_PAGE = 100  # pods per page of kopf's initial listing


class EventOnlyMemories(ResourceMemories):
    """kopf's per-object memory, kept for no object.

    kopf remembers a small record for every object it has seen (about 1 KB each,
    until the object is deleted) for its change handlers, daemons, timers and
    indexes. With only `on.event` handlers none of that is used, and on a
    100,000-pod cluster it would be ~100 MB held for nothing. kopf's own
    "ephemeral" recall (made for admission webhooks) returns a fresh record
    without storing it.
    """

    async def recall(
        self,
        raw_body: kopf.RawBody,
        *,
        memobase: Any = None,
        noticed_by_listing: bool = False,
        ephemeral: bool = False,
    ) -> ResourceMemory:
        memory: ResourceMemory = await super().recall(
            raw_body, memobase=memobase, noticed_by_listing=noticed_by_listing, ephemeral=True
        )
        return memory


def configure_settings(settings: kopf.OperatorSettings) -> None:
    # kopf would otherwise post its own Events for log lines on handled objects.
    settings.posting.enabled = False
    # No CRD/namespace scanning: it would need list/watch on CRDs and namespaces.
    settings.scanning.disabled = True
    # Memory. kopf hands every listed or watched pod to a per-object worker, and a
    # worker keeps its last body while it idles, waiting for that object's next event.
    # kopf does not slow its listing down for busy workers (queued bodies just wait),
    # so what bounds memory is how fast workers finish and go: a short idle time and
    # small list pages (the watcher then yields to the workers every 100 pods).
    # Measured with bench/operator_rss.py: 20,000 pods, resident memory 318 MiB with
    # 500-pod pages and 0.5 s idling, 126 MiB with these settings (bench/README.md).
    settings.queueing.worker_limit = WORKER_LIMIT
    settings.queueing.idle_timeout = 0.1
    settings.watching.chunk_size = WATCH_PAGE
    # Server-side watch timeouts make a silently dead watch reconnect.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    # No kopf peering: it pauses kopf's watches only, not our own loops. Several
    # replicas coordinate through a Lease instead (hostns.leader), before kopf starts.
    settings.peering.standalone = True


def build_registry(controller: Controller) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    async def start(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure_settings(settings)
        await controller.start()

    @kopf.on.cleanup(registry=registry)
    async def stop(**_: Any) -> None:
        await controller.stop()

    @kopf.on.event("", "v1", "pods", id="pods", registry=registry)
    async def pod_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        await controller.on_pod_event(event.get("type"), body)

    @kopf.on.event(GROUP, VERSION, EXCEPTIONS_PLURAL, id="exceptions", registry=registry)
    async def exception_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        await controller.on_exception_event(event.get("type"), body)

    return registry
