"""`hostns run`: the live operator in one asyncio loop (kopf + our writer + metrics)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable
from typing import Any

import kopf

from hostns.live.auditwebhook import AuditWebhook
from hostns.live.config import Config, ConfigError
from hostns.live.controller import Controller
from hostns.live.handlers import EventOnlyMemories, build_registry
from hostns.live.kube import Kube
from hostns.live.leader import Election, LeaderElector, LostLeadership
from hostns.live.metrics import Metrics, start_server

logger = logging.getLogger("hostns")

# What stops the operator from outside: an asyncio.Event, or a threading.Event when
# the operator runs in a thread of another program (as in the operator tests).
StopFlag = asyncio.Event | threading.Event


def configure_logging(config: Config) -> None:
    log_format = kopf.LogFormat.JSON if config.log_format == "json" else kopf.LogFormat.FULL
    kopf.configure(verbose=config.verbose, log_format=log_format)
    if not config.verbose:
        # kopf logs one "Handler ... succeeded" line per watch event at INFO: a log
        # storm on a large cluster. Our own one-line-per-transition logs stay.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


async def operate(
    config: Config,
    *,
    server: str | None = None,
    stop_flag: StopFlag | None = None,
    ready_flag: asyncio.Event | None = None,
    controller_ready: asyncio.Future[Controller] | None = None,
) -> None:
    """Run until stopped. `server` points both kopf and our client at a plain URL (tests).

    With leader election, stand by for the Lease first (watching pods, writing
    nothing), and stop with LostLeadership as soon as it is lost.
    """
    kube = await Kube.connect(server)
    metrics = Metrics()
    controller = Controller(kube, config, metrics)
    elector = _elector(config, kube)
    standing_by = True

    def healthy() -> bool:
        # A standby is alive; a leader is alive while its loops run.
        return standing_by or controller.healthy()

    def ready() -> bool:
        # Ready once the pod picture is complete, a standby's too (it keeps it warm).
        return controller.ready()

    runner = (
        await start_server(metrics, config.port, healthy, ready=ready) if config.port else None
    )
    webhook = (
        AuditWebhook(config.audit_webhook, controller.attribution, metrics,
                     standby=lambda: standing_by)
        if config.audit_webhook is not None else None
    )
    try:
        if webhook is not None:
            await webhook.start()
        if elector is not None:
            # Warm standby: the pod watch and picture are kept (read-only), so that a
            # take-over needs no full re-list.
            await _until_stopped(controller.watch_standby(), stop_flag)
            await _until_stopped(elector.acquire(), stop_flag)
            if elector.is_leader is False:
                await controller.stop()
                return  # stopped while standing by
        standing_by = False
        metrics.leader.set(1)
        if controller_ready is not None:
            controller_ready.set_result(controller)
        await _run_kopf(controller, config, server, elector, stop_flag, ready_flag)
    finally:
        metrics.leader.set(0)
        if elector is not None:
            await elector.release()
        if webhook is not None:
            await webhook.stop()
        if runner is not None:
            await runner.cleanup()
        await kube.close()


def _elector(config: Config, kube: Kube) -> LeaderElector | None:
    if not config.leader_elect:
        return None
    namespace = config.leader_elect_namespace
    if not namespace:
        raise ConfigError("leader election needs the Lease's namespace (with_lease_namespace)")
    seconds = config.leader_elect_seconds
    election = Election(
        namespace=namespace, name=config.leader_elect_lease, lease_seconds=seconds,
        renew_deadline_seconds=seconds * 2 / 3, retry_seconds=seconds * 2 / 15,
    )
    return LeaderElector(kube, election)


async def _until_stopped(work: Awaitable[None], stop_flag: StopFlag | None) -> None:
    """Await `work`, or give it up when `stop_flag` is set first."""
    task = asyncio.ensure_future(work)
    if stop_flag is None:
        await task
        return
    stopper = asyncio.ensure_future(_wait_flag(stop_flag))
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopper):
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
    if task.done() and not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


async def _run_kopf(
    controller: Controller,
    config: Config,
    server: str | None,
    elector: LeaderElector | None,
    stop_flag: StopFlag | None,
    ready_flag: asyncio.Event | None,
) -> None:
    registry = build_registry(controller)
    if server is not None:

        @kopf.on.login(registry=registry)
        def login(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=server, insecure=True)

    else:
        # A fresh registry has no login handlers. kopf logs in through the same
        # library and credentials as our own client (kubernetes_asyncio: in-cluster
        # ServiceAccount first, then the kubeconfig, exec plugins included).
        @kopf.on.login(registry=registry)
        async def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
            info: kopf.ConnectionInfo | None = await kopf.login_via_async_client(**kwargs)
            return info

    # kopf stops on our stop flag, which the caller's flag or a lost Lease sets.
    stop = asyncio.Event()
    lost: list[LostLeadership] = []
    helpers = []
    if stop_flag is not None:
        helpers.append(asyncio.create_task(_relay(stop_flag, stop)))
    if elector is not None:
        helpers.append(asyncio.create_task(_hold(elector, controller.kube, stop, lost)))
    try:
        await kopf.operator(
            registry=registry,
            clusterwide=not config.namespaces,
            namespaces=list(config.namespaces),
            standalone=True,
            memories=EventOnlyMemories(),
            stop_flag=stop,
            ready_flag=ready_flag,
        )
    finally:
        for helper in helpers:
            helper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await helper
    if lost:
        raise lost[0]


async def _relay(source: StopFlag, target: asyncio.Event) -> None:
    await _wait_flag(source)
    target.set()


async def _wait_flag(flag: StopFlag) -> None:
    # Polled: a threading.Event (a test's or an embedding program's) has no awaitable wait.
    while not flag.is_set():
        await asyncio.sleep(0.1)


async def _hold(
    elector: LeaderElector, kube: Kube, stop: asyncio.Event, lost: list[LostLeadership]
) -> None:
    try:
        await elector.hold()
    except LostLeadership as exc:
        # Fence first: the shutdown below must not flush findings beside a new leader.
        kube.fence()
        logger.error("stopping: %s", exc)
        lost.append(exc)
        stop.set()


def run(config: Config) -> int:
    configure_logging(config)
    logger.info(
        "starting hostns-operator: namespaces=%s retention=%ss events=%s port=%s reports=%s",
        ",".join(config.namespaces) or "<all>", int(config.retention_seconds),
        config.events, config.port, config.reports,
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(operate(config))
    except LostLeadership:
        return 1  # the kubelet restarts the container, which stands by again
    return 0
