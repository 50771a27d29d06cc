"""API errors are errors: never an empty list, never a lease that seems won.

The operator reads pod pages and Leases as raw JSON. kubernetes_asyncio does not
check the HTTP status of such raw responses, so a 403 (RBAC), 410 (expired
continue token), 429 or 500 could pass for an empty page — and a re-list that
sees no pods resolves every finding: fail open. A real HTTP server on loopback
answers with the API server's own Status bodies here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from hostns.config import Config
from hostns.controller import Controller
from hostns.kube import LIST_PAGE, ApiError, Kube
from hostns.metrics import Metrics
from hostns.wire import WireError, full

Handler = Callable[[web.Request], Awaitable[web.Response]]


def status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": reason, "code": code}
    return web.Response(status=code, text=json.dumps(body), content_type="application/json")


def host_pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "apps", "uid": f"uid-{name}"},
        "spec": {"hostNetwork": True, "containers": [{"name": "c", "image": "nginx:1.25"}]},
    }


def page(items: list[dict[str, Any]], token: str = "") -> web.Response:
    body = {"kind": "PodList", "apiVersion": "v1", "items": items,
            "metadata": {"resourceVersion": "7", "continue": token}}
    return web.json_response(body)


@pytest.fixture
async def serve(unused_tcp_port: int) -> AsyncIterator[Callable[[Handler], Any]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> Kube:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
        runners.append(runner)
        kube = await Kube.connect(f"http://127.0.0.1:{unused_tcp_port}")
        clients.append(kube)
        return kube

    clients: list[Kube] = []
    yield start
    for kube in clients:
        await kube.close()
    for runner in runners:
        await runner.cleanup()


async def pages_of(kube: Kube) -> list[list[dict[str, Any]]]:
    """The pages' items decoded (the client hands them over as raw JSON)."""
    return [[full(raw) for raw in p.items] async for p in kube.list_pod_pages(None)]


async def test_a_forbidden_pod_list_raises_with_the_servers_message(serve: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return status(403, "Forbidden", 'pods is forbidden: User "x" cannot list')

    kube = await serve(handler)
    with pytest.raises(ApiError, match="HTTP 403: pods is forbidden") as caught:
        await pages_of(kube)
    assert caught.value.status == 403


async def test_an_expired_continue_token_raises_instead_of_ending_the_list(serve: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.query.get("continue"):
            return status(410, "Expired", "The provided continue parameter is too old")
        return page([host_pod("a")], token="next")

    kube = await serve(handler)
    with pytest.raises(ApiError, match="HTTP 410") as caught:
        await pages_of(kube)
    assert caught.value.status == 410


async def test_pages_are_followed_to_the_end_when_the_server_answers(serve: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        assert request.query["limit"] == str(LIST_PAGE)
        if request.query.get("continue") == "next":
            return page([host_pod("b")])
        return page([host_pod("a")], token="next")

    kube = await serve(handler)
    names = [[p["metadata"]["name"] for p in items] for items in await pages_of(kube)]
    assert names == [["a"], ["b"]]


async def test_a_page_that_is_not_a_pod_list_raises_instead_of_reading_as_empty(serve: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}})

    kube = await serve(handler)
    with pytest.raises(WireError, match="items"):
        await pages_of(kube)


@pytest.mark.parametrize("code", [403, 429, 500])
async def test_a_failed_relist_forgets_no_pod_and_resolves_no_finding(serve: Any, code: int) -> None:
    async def handler(request: web.Request) -> web.Response:
        return status(code, "Failure", "the re-list failed")

    kube = await serve(handler)
    controller = Controller(kube, Config(), Metrics())
    await controller.on_pod_event(None, host_pod("agent"))
    assert "uid-agent" in controller.state.pods
    with pytest.raises(ApiError):
        await controller.resync()
    assert "uid-agent" in controller.state.pods
    assert not controller.state.departed, "no workload may look gone after a failed list"


async def test_a_forbidden_lease_is_an_error_and_a_missing_one_is_none(serve: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("/leases/missing"):
            return status(404, "NotFound", 'leases "missing" not found')
        return status(403, "Forbidden", "leases is forbidden")

    kube = await serve(handler)
    assert await kube.get_lease("hostns-system", "missing") is None
    with pytest.raises(ApiError, match="HTTP 403"):
        await kube.get_lease("hostns-system", "hostns-operator")
    lease = {"metadata": {"name": "hostns-operator", "namespace": "hostns-system"}, "spec": {}}
    with pytest.raises(ApiError, match="HTTP 403"):
        await kube.replace_lease("hostns-system", "hostns-operator", lease)
