"""The live operator, with the real kopf runtime, against kmock's KubernetesEmulator."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import kmock
import pytest

from hostns.live.config import Config
from hostns.live.controller import Controller
from hostns.live.runtime import operate

RESOURCES: dict[str, dict[str, Any]] = {
    "v1/pods": {"namespaced": True, "kind": "Pod", "singular": "pod"},
    "v1/events": {"namespaced": True, "kind": "Event", "singular": "event"},
    # kopf's discovery backbone waits for these two to exist before watching anything.
    "v1/namespaces": {"namespaced": False, "kind": "Namespace", "singular": "namespace"},
    "apiextensions.k8s.io/v1/customresourcedefinitions": {
        "namespaced": False, "kind": "CustomResourceDefinition",
        "singular": "customresourcedefinition",
    },
    "hostns.io/v1alpha1/hostnamespaceexceptions": {
        "namespaced": False, "kind": "HostNamespaceException",
        "singular": "hostnamespaceexception", "subresources": {"status"},
    },
    "hostns.io/v1alpha1/hostnamespacefindings": {
        "namespaced": True, "kind": "HostNamespaceFinding",
        "singular": "hostnamespacefinding", "subresources": {"status"},
    },
}
EXCEPTIONS = "/apis/hostns.io/v1alpha1/hostnamespaceexceptions"
TEST_AGENT = "hostns-tests"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
VERBS = {"list", "watch", "get", "create", "patch", "update", "delete"}


class Cluster:
    """A tiny client for the emulator, as a cluster user would act on it."""

    def __init__(self, emulator: kmock.RawHandler, session: aiohttp.ClientSession) -> None:
        self.emulator = emulator
        self.session = session

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(method, path, json=body) as response:
            text = await response.text()
            assert response.status < 400, f"{method} {path}: {response.status} {text}"
            return await response.json()

    async def create_pod(self, body: dict[str, Any]) -> Any:
        ns = body["metadata"].setdefault("namespace", "default")
        return await self.request("POST", f"/api/v1/namespaces/{ns}/pods", body)

    async def delete_pod(self, namespace: str, name: str) -> Any:
        return await self.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}")

    async def create_exception(self, body: dict[str, Any]) -> Any:
        return await self.request("POST", EXCEPTIONS, body)

    async def delete_exception(self, name: str) -> Any:
        return await self.request("DELETE", f"{EXCEPTIONS}/{name}")

    async def get_exception(self, name: str) -> Any:
        return await self.request("GET", f"{EXCEPTIONS}/{name}")

    async def create_finding(self, body: dict[str, Any]) -> Any:
        ns = body["metadata"]["namespace"]
        return await self.request(
            "POST", f"/apis/hostns.io/v1alpha1/namespaces/{ns}/hostnamespacefindings", body
        )

    def operator_writes(self) -> list[Any]:
        """Every write request the operator (not this test) sent."""
        return [
            request for request in self.emulator
            if _method(request) in WRITE_METHODS
            and request.headers.get("User-Agent") != TEST_AGENT
        ]

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Event bodies the operator posted, optionally about one kind of object."""
        posted = [
            request.data for request in self.operator_writes()
            if _method(request) == "POST" and request.url.path.endswith("/events")
        ]
        return [e for e in posted if kind is None or e["involvedObject"]["kind"] == kind]

    async def findings(self, namespace: str) -> list[dict[str, Any]]:
        result = await self.request(
            "GET", f"/apis/hostns.io/v1alpha1/namespaces/{namespace}/hostnamespacefindings"
        )
        return list(result.get("items", []))


def _method(request: Any) -> str:
    return str(getattr(request.method, "value", request.method)).upper()


@pytest.fixture()
async def emulator(kmock: kmock.RawHandler) -> kmock.RawHandler:
    for key, info in RESOURCES.items():
        kmock.resources[key] = kmock_info(info)
    return kmock


def kmock_info(info: dict[str, Any]) -> kmock.ResourceInfo:
    return kmock.ResourceInfo(verbs=VERBS, **info)


@pytest.fixture()
async def cluster(emulator: kmock.RawHandler) -> AsyncIterator[Cluster]:
    headers = {"User-Agent": TEST_AGENT}
    async with aiohttp.ClientSession(base_url=str(emulator.url), headers=headers) as session:
        yield Cluster(emulator, session)


@pytest.fixture()
def config() -> Config:
    return Config(port=0, coalesce_seconds=0.05, resync_seconds=0)


@contextlib.asynccontextmanager
async def running_operator(emulator: kmock.RawHandler, config: Config) -> AsyncIterator[Controller]:
    """The operator in its own thread and event loop, as in production.

    kopf waits for every task of its loop to end when it stops; in its own loop
    that is only its own tasks, not pytest's.
    """
    stop_flag, ready_flag = threading.Event(), threading.Event()
    controller_ready: concurrent.futures.Future[Controller] = concurrent.futures.Future()
    server = str(emulator.url).rstrip("/")

    def main() -> None:
        async def run() -> None:
            ready: asyncio.Future[Controller] = asyncio.get_running_loop().create_future()
            ready.add_done_callback(lambda f: controller_ready.set_result(f.result()))
            await operate(
                config, server=server, stop_flag=stop_flag, ready_flag=ready_flag,
                controller_ready=ready,
            )

        asyncio.run(run())

    thread = threading.Thread(target=main, name="operator", daemon=True)
    thread.start()
    assert await asyncio.to_thread(ready_flag.wait, 10), "the operator did not start"
    controller = await asyncio.wrap_future(controller_ready)
    # Ready means started, not yet watching: wait for kopf's pod watch request
    # so that nothing a test does happens before the operator can see it.
    for _ in range(200):
        if any(
            r.url.path == "/api/v1/pods" and r.params.get("watch") == "true" for r in emulator
        ):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("kopf never started watching pods")
    try:
        yield controller
    finally:
        stop_flag.set()
        await asyncio.to_thread(thread.join, 15)
    assert not thread.is_alive(), "the operator did not stop"


@pytest.fixture()
async def operator(emulator: kmock.RawHandler, config: Config) -> AsyncIterator[Controller]:
    async with running_operator(emulator, config) as controller:
        yield controller
