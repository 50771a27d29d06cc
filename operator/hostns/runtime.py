"""`hostns run`: the live operator in one asyncio loop (kopf + our writer + metrics)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

import kopf

from hostns.config import Config
from hostns.controller import Controller
from hostns.handlers import build_registry
from hostns.kube import Kube
from hostns.metrics import Metrics, start_server

logger = logging.getLogger("hostns")


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
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
    controller_ready: asyncio.Future[Controller] | None = None,
) -> None:
    """Run until stopped. `server` points both kopf and our client at a plain URL (tests)."""
    kube = await Kube.connect(server)
    metrics = Metrics()
    controller = Controller(kube, config, metrics)
    registry = build_registry(controller, config)
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

    if controller_ready is not None:
        controller_ready.set_result(controller)
    runner = await start_server(metrics, config.port, controller.healthy) if config.port else None
    try:
        await kopf.operator(
            registry=registry,
            clusterwide=not config.namespaces,
            namespaces=list(config.namespaces),
            standalone=config.peering is None,
            peering_name=config.peering,
            # kopf pauses every peer when priorities tie; distinct random ones
            # make exactly one replica active and the others stand by.
            priority=random.randint(1, 1_000_000) if config.peering else None,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        if runner is not None:
            await runner.cleanup()
        await kube.close()


def run(config: Config) -> int:
    configure_logging(config)
    logger.info(
        "starting hostns-operator: namespaces=%s retention=%ss events=%s port=%s",
        ",".join(config.namespaces) or "<all>", int(config.retention_seconds),
        config.events, config.port,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(operate(config))
    return 0
