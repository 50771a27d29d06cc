"""kopf handlers: a thin shell around the Controller.

kopf runs the start-up and clean-up, logs in, and watches exceptions (a few
objects) with an `on.event` handler. Pods are not kopf's: the Controller streams
them itself (hostns.podwatch; the README says why). kopf's change handlers
(create/update/resume) write annotations to the objects they handle, and its
daemons and timers add finalizers: none of them is used. Event handlers return
None, so kopf stores nothing.
"""

from __future__ import annotations

from typing import Any

import kopf
from kopf._core.reactor.inventory import ResourceMemories, ResourceMemory

from hostns.api import EXCEPTIONS_PLURAL, GROUP, VERSION
from hostns.controller import Controller


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
    # kopf watches exceptions only (pods are streamed by hostns.podwatch): a worker
    # per exception is cheap, and idle workers leave soon.
    settings.queueing.idle_timeout = 0.1
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

    @kopf.on.event(GROUP, VERSION, EXCEPTIONS_PLURAL, id="exceptions", registry=registry)
    async def exception_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        await controller.on_exception_event(event.get("type"), body)

    return registry
