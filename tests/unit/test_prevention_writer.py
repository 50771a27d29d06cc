"""PreventionWriter with a fake API: writes on change only, and at each expiry."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hostns.core.exceptions import CompiledException, compile_exception
from hostns.core.prevention import NAME
from hostns.live.prevention_writer import ParamsConflict, PreventionWriter


class FakeParams:
    """An API server holding at most one object, with resourceVersions and 409s."""

    def __init__(self) -> None:
        self.stored: dict[str, Any] | None = None
        self.calls: list[str] = []
        self.conflicts = 0  # replace calls to fail with 409 first

    async def get(self, name: str) -> Mapping[str, Any] | None:
        self.calls.append("get")
        return copy.deepcopy(self.stored)

    async def create(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        self.calls.append("create")
        if self.stored is not None:
            raise ParamsConflict("exists")
        self.stored = {**copy.deepcopy(dict(body))}
        self.stored["metadata"] = {**self.stored["metadata"], "resourceVersion": "1"}
        return self.stored

    async def replace(self, name: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        self.calls.append("replace")
        assert self.stored is not None
        if self.conflicts:
            self.conflicts -= 1
            self.stored["metadata"]["resourceVersion"] = str(
                int(self.stored["metadata"]["resourceVersion"]) + 1)
            raise ParamsConflict("stale")
        assert body["metadata"]["resourceVersion"] == self.stored["metadata"]["resourceVersion"]
        self.stored = copy.deepcopy(dict(body))
        self.stored["metadata"]["resourceVersion"] = str(int(body["metadata"]["resourceVersion"]) + 1)
        return self.stored

    @property
    def held(self) -> list[str]:
        assert self.stored is not None
        return [e["name"] for e in self.stored["spec"]["exceptions"]]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def hne(name: str, images: list[str], generation: int = 1, **spec: Any) -> CompiledException:
    return compile_exception({"metadata": {"name": name, "generation": generation},
                              "spec": {"reason": "r", "images": images, **spec}})


async def test_nothing_is_written_before_the_exceptions_are_known() -> None:
    api = FakeParams()
    writer = PreventionWriter(api, clock=Clock())
    assert await writer.sync() is False
    assert api.calls == []


async def test_the_object_is_created_then_written_only_when_its_content_changes() -> None:
    api, clock = FakeParams(), Clock()
    writer = PreventionWriter(api, clock=clock)
    writer.update([hne("proxy", ["registry.k8s.io/kube-proxy:*"])])
    assert await writer.sync() is True
    assert api.calls == ["get", "create"] and api.held == ["proxy"]
    assert api.stored is not None and api.stored["metadata"]["name"] == NAME
    assert api.stored["status"]["exceptions"] == [{"name": "proxy", "generation": 1}]

    api.calls.clear()
    writer.update([hne("proxy", ["registry.k8s.io/kube-proxy:*"])])  # same content
    assert await writer.sync() is False
    assert api.calls == [], "an unchanged policy costs no API call at all"

    writer.update([hne("proxy", ["registry.k8s.io/kube-proxy:*"], generation=2)])
    assert await writer.sync() is True
    assert api.calls == ["get", "replace"]
    assert api.stored["status"]["exceptions"] == [{"name": "proxy", "generation": 2}]


async def test_a_conflict_is_read_again_and_retried() -> None:
    api = FakeParams()
    writer = PreventionWriter(api, clock=Clock())
    writer.update([hne("a", ["nginx"])])
    await writer.sync()
    api.conflicts = 2
    writer.update([hne("a", ["nginx"]), hne("b", ["busybox"])])
    assert await writer.sync() is True
    assert api.held == ["a", "b"]
    assert api.calls[-6:] == ["get", "replace", "get", "replace", "get", "replace"]


async def test_an_object_already_equal_on_the_server_is_not_rewritten() -> None:
    api, clock = FakeParams(), Clock()
    first = PreventionWriter(api, clock=clock)
    first.update([hne("a", ["nginx"])])
    await first.sync()
    restarted = PreventionWriter(api, clock=clock)  # an operator restart
    restarted.update([hne("a", ["nginx"])])
    assert await restarted.sync() is False
    assert restarted.writes == 0


async def test_an_expired_exception_leaves_the_object_at_its_expiry() -> None:
    api, clock = FakeParams(), Clock()
    writer = PreventionWriter(api, clock=clock)
    expires = clock.now + timedelta(seconds=30)
    writer.update([hne("short", ["nginx"], expiresAt=expires.isoformat()),
                   hne("long", ["busybox"])])
    await writer.sync()
    assert api.held == ["long", "short"]
    assert writer.next_wake() == expires
    clock.now = expires
    assert await writer.sync() is True
    assert api.held == ["long"]
    assert api.stored is not None
    assert api.stored["status"]["omitted"] == [{"name": "short", "generation": 1,
                                                "reason": "Expired"}]
    assert writer.next_wake() is None


async def test_run_writes_on_update_and_wakes_for_the_expiry_by_itself() -> None:
    api = FakeParams()
    real_now = datetime.now(UTC)
    writer = PreventionWriter(api, resync_seconds=3600)
    expires = real_now + timedelta(seconds=0.5)
    writer.update([hne("short", ["nginx"], expiresAt=expires.isoformat()),
                   hne("long", ["busybox"])])
    task = asyncio.create_task(writer.run())
    try:
        await _until(lambda: api.stored is not None and api.held == ["long", "short"])
        # Nobody calls update: the writer's own timer removes the expired exception.
        await _until(lambda: api.held == ["long"], timeout=3.0)
        writer.update([hne("long", ["busybox"]), hne("new", ["alpine"])])
        await _until(lambda: api.held == ["long", "new"])
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_deleted_object_is_put_back_at_the_next_resync() -> None:
    api = FakeParams()
    writer = PreventionWriter(api, resync_seconds=0.2)
    writer.update([hne("a", ["nginx"])])
    task = asyncio.create_task(writer.run())
    try:
        await _until(lambda: api.stored is not None)
        api.stored = None  # someone deleted it: under Deny every pod write now fails
        await _until(lambda: api.stored is not None, timeout=3.0)
        assert api.held == ["a"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_an_api_error_does_not_end_the_writer() -> None:
    api = FakeParams()
    failures = [RuntimeError("500")]
    real_get = api.get

    async def flaky_get(name: str) -> Mapping[str, Any] | None:
        if failures:
            raise failures.pop()
        return await real_get(name)

    api.get = flaky_get  # type: ignore[method-assign]
    writer = PreventionWriter(api, retry_seconds=0.05)
    writer.update([hne("a", ["nginx"])])
    task = asyncio.create_task(writer.run())
    try:
        await _until(lambda: api.stored is not None, timeout=3.0)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def _until(condition: Any, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
