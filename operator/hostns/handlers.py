"""kopf handlers: a thin shell that hands watch events to the Controller.

Only `on.event` handlers are used on pods and exceptions. kopf's change
handlers (create/update/resume) write annotations to the objects they handle,
and its daemons and timers add finalizers: none of them may touch a pod, so
none of them is used. Event handlers return None, so kopf stores nothing.
"""

from __future__ import annotations

from typing import Any

import kopf

from hostns.controller import Controller
from hostns.findings import GROUP, VERSION
from hostns.kube import EXCEPTIONS_PLURAL, LIST_PAGE

WORKER_LIMIT = 500


def configure_settings(settings: kopf.OperatorSettings) -> None:
    # kopf would otherwise post its own Events for log lines on handled objects.
    settings.posting.enabled = False
    # No CRD/namespace scanning: it would need list/watch on CRDs and namespaces.
    settings.scanning.disabled = True
    # Memory: kopf queues every listed object's body for its per-object worker.
    # Bounding the workers makes the listing wait for them (back-pressure), so a
    # 100,000-pod initial listing is not held in memory at once; short idling
    # lets a worker that handled its pod's event go, freeing its slot.
    settings.queueing.worker_limit = WORKER_LIMIT
    settings.queueing.idle_timeout = 0.5
    # kopf lists everything in one response by default; page it like our own re-list.
    settings.watching.chunk_size = LIST_PAGE
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
