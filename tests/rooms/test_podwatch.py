"""The pod stream: LIST then WATCH from its version, bookmarks, 410 re-list, fail closed."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

import hostns.live.podwatch
from hostns.live.metrics import Metrics
from hostns.live.podwatch import PodWatch
from hostns.live.wire import PodHead

from .fakes import FakeKube, pod_body
from .fakes import until as wait_until


class Sink:
    def __init__(self) -> None:
        self.pods: list[tuple[str | None, str | None]] = []
        self.listings: list[set[str]] = []

    def on_pod(self, event_type: str | None, head: PodHead | None, raw: msgspec.Raw) -> bool:
        self.pods.append((event_type, head.uid if head else None))
        return True

    def on_listed(self, namespace: str | None, tracked: set[str], since: float) -> None:
        self.listings.append(tracked)

    def wants(self, head: PodHead | None) -> bool:
        return True

    def on_skipped(self, count: int) -> None:
        raise AssertionError("this sink wants every pod")


pytestmark = pytest.mark.usefixtures("quick_backoff")


@contextlib.asynccontextmanager
async def running(watch: PodWatch) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(watch.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


until = functools.partial(wait_until, timeout=3.0)  # this file's waits are short


def event(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": body}


async def test_list_then_watch_from_the_lists_version_then_from_the_last_event() -> None:
    kube, sink = FakeKube(), Sink()
    listed = asyncio.Event()
    kube.pod_pages = [[pod_body("a")], listed, [pod_body("b")]]
    kube.watches = [[event("ADDED", pod_body("c", rv="120")),
                     event("BOOKMARK", {"metadata": {"resourceVersion": "130"}}), listed]]
    watch = PodWatch(kube, None, sink, Metrics())  # type: ignore[arg-type]
    async with running(watch):
        await until(lambda: ("ADDED", "uid-c") in sink.pods)
        listed.set()
        await until(lambda: len(kube.watch_versions) == 2)
    assert sink.pods == [(None, "uid-a"), ("ADDED", "uid-c"), (None, "uid-b")]  # no BOOKMARK
    assert sink.listings == [{"uid-a", "uid-b"}]
    assert kube.watch_versions == ["100", "130"]  # resumed after the bookmark, no re-list
    assert watch.listed.is_set()


async def test_a_410_gone_lists_again_and_watches_from_the_new_version() -> None:
    kube, sink = FakeKube(), Sink()
    kube.pod_pages = [[pod_body("a")]]
    kube.watches = [[{"type": "ERROR", "object": {"kind": "Status", "code": 410,
                                                  "message": "too old resource version"}}]]
    watch = PodWatch(kube, None, sink, Metrics())  # type: ignore[arg-type]
    async with running(watch):
        await until(lambda: len(sink.listings) == 2 and len(kube.watch_versions) == 2)
    assert watch.lists == 2


async def test_a_failed_page_is_never_a_complete_listing() -> None:
    kube, sink = FakeKube(), Sink()
    kube.pod_pages = [[pod_body("a")], [pod_body("b")]]
    metrics = Metrics()
    watch = PodWatch(kube, None, sink, metrics)  # type: ignore[arg-type]

    original = kube.list_pod_pages
    calls = [0]

    async def failing_second_page(namespace: str | None) -> AsyncIterator[Any]:
        calls[0] += 1
        async for index, page in _enumerate(original(namespace)):
            if calls[0] == 1 and index == 1:
                raise hostns.live.podwatch.api_error(500, "etcd timeout")
            yield page

    kube.list_pod_pages = failing_second_page  # type: ignore[method-assign]
    async with running(watch):
        await until(lambda: watch.listed.is_set())
    assert sink.listings == [{"uid-a", "uid-b"}], "only the complete second listing counts"
    assert metrics.api_errors.labels("list_pods")._value.get() == 1


async def _enumerate(pages: AsyncIterator[Any]) -> AsyncIterator[tuple[int, Any]]:
    index = 0
    async for page in pages:
        yield index, page
        index += 1


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_a_transient_watch_failure_resumes_from_the_last_version_without_a_list(
    status: int,
) -> None:
    kube, sink = FakeKube(), Sink()
    kube.pod_pages = [[pod_body("a")]]
    kube.watches = [[event("ADDED", pod_body("b", rv="150")), status]]
    watch = PodWatch(kube, None, sink, Metrics())  # type: ignore[arg-type]
    async with running(watch):
        await until(lambda: len(kube.watch_versions) == 2)
    assert kube.watch_versions == ["100", "150"] and watch.lists == 1


async def test_a_requested_relist_lists_again_at_the_next_event() -> None:
    kube, sink = FakeKube(), Sink()
    kube.pod_pages = [[pod_body("a")]]
    gate = asyncio.Event()
    kube.watches = [[gate, event("ADDED", pod_body("b", rv="150"))]]
    watch = PodWatch(kube, None, sink, Metrics())  # type: ignore[arg-type]
    async with running(watch):
        await until(lambda: watch.listed.is_set() and kube.watch_versions)
        watch.relist()  # the periodic re-list asks
        gate.set()
        await until(lambda: watch.lists == 2)
    assert sink.listings == [{"uid-a"}, {"uid-a"}]


async def test_the_streams_sign_of_life_moves_with_pages_events_bookmarks_not_errors() -> None:
    kube, sink, metrics = FakeKube(), Sink(), Metrics()
    kube.pod_pages = [[pod_body("a")]]
    bookmark, end, failing = asyncio.Event(), asyncio.Event(), asyncio.Event()
    kube.watches = [
        [bookmark, event("BOOKMARK", {"metadata": {"resourceVersion": "130"}}), end],
        [failing, event("ERROR", {"kind": "Status", "code": 500, "message": "etcd is sad"})],
    ]

    def alive() -> float:
        value = metrics.registry.get_sample_value(
            "hostns_pod_watch_last_event_timestamp_seconds", {"watch_namespace": "*"})
        assert value is not None
        return value

    watch = PodWatch(kube, None, sink, metrics)  # type: ignore[arg-type]
    assert alive() == 0, "never alive before the first page"
    started = time.time()
    async with running(watch):
        await until(lambda: len(kube.watch_versions) == 1)
        listed = alive()
        assert listed >= started, "the listed page"
        await asyncio.sleep(0.02)
        bookmark.set()
        await until(lambda: alive() > listed)
        assert len(kube.watch_versions) == 1, "moved by the bookmark, the watch still open"
        bookmarked = alive()
        await asyncio.sleep(0.02)
        end.set()
        await until(lambda: len(kube.watch_versions) == 2)
        assert alive() > bookmarked, "a watch the server ended on time"
        ended = alive()
        failing.set()
        await until(lambda: len(kube.watch_versions) == 3)  # retried after the error
        assert alive() == ended, "an ERROR line is no sign of life"


async def test_a_namespaced_watch_reports_under_its_namespace() -> None:
    kube, metrics = FakeKube(), Metrics()
    kube.pod_pages = [[pod_body("a")]]
    watch = PodWatch(kube, "team-a", Sink(), metrics)  # type: ignore[arg-type]
    async with running(watch):
        await until(lambda: len(kube.watch_versions) == 1)
    value = metrics.registry.get_sample_value(
        "hostns_pod_watch_last_event_timestamp_seconds", {"watch_namespace": "team-a"})
    assert value is not None and value > 0


async def test_a_pod_created_during_the_listing_is_handed_over_before_the_listing_ends() -> None:
    kube, sink = FakeKube(), Sink()
    rest = asyncio.Event()
    kube.pod_pages = [[pod_body("a")], rest, [pod_body("b")]]
    kube.watches = [[event("ADDED", pod_body("new", rv="101")), asyncio.Event()]]  # stays open
    watch = PodWatch(kube, None, sink, Metrics())  # type: ignore[arg-type]
    async with running(watch):
        await until(lambda: ("ADDED", "uid-new") in sink.pods)
        assert kube.watch_versions == ["100"], "watched from the first page's version"
        assert not watch.listed.is_set() and sink.listings == [], "the listing is not done"
        rest.set()
        await until(watch.listed.is_set)
    assert sink.listings == [{"uid-a", "uid-b"}] and watch.lists == 1
    assert kube.calls.count("watch_pods") == 1, "the same watch goes on after the listing"


async def test_a_later_page_neither_overwrites_a_watched_change_nor_resurrects_a_deletion() -> None:
    kube, sink = FakeKube(), Sink()
    rest = asyncio.Event()
    kube.pod_pages = [[pod_body("a")], rest, [pod_body("b"), pod_body("d"), pod_body("e")]]
    kube.watches = [[event("MODIFIED", pod_body("b", rv="101")),
                     event("DELETED", pod_body("d", rv="102"))]]
    watch = PodWatch(kube, None, sink, Metrics())  # type: ignore[arg-type]
    async with running(watch):
        await until(lambda: ("DELETED", "uid-d") in sink.pods)
        rest.set()
        await until(watch.listed.is_set)
    assert sink.pods == [(None, "uid-a"), ("MODIFIED", "uid-b"), ("DELETED", "uid-d"),
                         (None, "uid-e")], "the listed b and d are older than the watch's"
    assert sink.listings == [{"uid-a", "uid-e"}]


async def test_the_touched_uids_are_forgotten_after_the_listing() -> None:
    kube, sink = FakeKube(), Sink()
    kube.pod_pages = [[pod_body("a")]]
    gate = asyncio.Event()
    kube.watches = [[event("MODIFIED", pod_body("a", rv="101")), gate]]
    watch = PodWatch(kube, None, sink, Metrics())  # type: ignore[arg-type]
    async with running(watch):
        await until(lambda: watch.listed.is_set() and ("MODIFIED", "uid-a") in sink.pods)
        watch.relist()
        gate.set()
        await until(lambda: watch.lists == 2)
    assert sink.pods[-1] == (None, "uid-a"), "a second listing hands it over again"


@pytest.mark.parametrize("status", [500, 410])
async def test_a_watch_failure_mid_listing_abandons_the_listing_and_lists_again(
    status: int,
) -> None:
    kube, sink, metrics = FakeKube(), Sink(), Metrics()
    never = asyncio.Event()
    kube.pod_pages = [[pod_body("a")], never, [pod_body("b")]]
    kube.watches = [[event("ADDED", pod_body("c", rv="101")), status]]
    watch = PodWatch(kube, None, sink, metrics)  # type: ignore[arg-type]
    async with running(watch):
        await until(lambda: kube.calls.count("list_pod_page") == 2)  # listed again
        await until(lambda: len(kube.watch_versions) == 2)
        assert sink.listings == [] and not watch.listed.is_set(), "never a complete listing"
        never.set()
        await until(watch.listed.is_set)
    assert sink.listings == [{"uid-a", "uid-b"}]
    assert kube.watch_versions == ["100", "100"], "the second watch is the new listing's"
    if status == 500:
        assert metrics.api_errors.labels("list_pods")._value.get() >= 1


async def test_a_page_failure_mid_listing_closes_the_watch_before_listing_again() -> None:
    kube, sink = FakeKube(), Sink()
    kube.pod_pages = [[pod_body("a")], [pod_body("b")]]
    watch = PodWatch(kube, None, sink, Metrics())  # type: ignore[arg-type]
    original, calls, open_watches = kube.list_pod_pages, [0], []

    async def failing_after_the_watch_opened(namespace: str | None) -> AsyncIterator[Any]:
        calls[0] += 1
        async for index, page in _enumerate(original(namespace)):
            if calls[0] == 1 and index == 1:
                await kube.watch_opened.wait()
                open_watches.append(_watch_tasks())
                raise hostns.live.podwatch.api_error(500, "etcd timeout")
            yield page

    kube.list_pod_pages = failing_after_the_watch_opened  # type: ignore[method-assign]
    async with running(watch):
        await until(lambda: watch.listed.is_set())
        await until(lambda: len(kube.watch_versions) == 2)
        assert _watch_tasks() == 1, "only the new listing's watch is open"
    assert open_watches == [1]
    assert sink.listings == [{"uid-a", "uid-b"}]


def _watch_tasks() -> int:
    return sum(1 for t in asyncio.all_tasks()
               if t.get_name().startswith("hostns-pods-watch") and not t.done())


async def test_a_relist_asked_for_during_a_listing_is_that_listing() -> None:
    kube, sink = FakeKube(), Sink()
    rest, later = asyncio.Event(), asyncio.Event()
    kube.pod_pages = [[pod_body("a")], rest, [pod_body("b")]]
    kube.watches = [[later, event("ADDED", pod_body("c", rv="101")), asyncio.Event()]]
    watch = PodWatch(kube, None, sink, Metrics())  # type: ignore[arg-type]
    async with running(watch):
        await until(lambda: kube.watch_versions == ["100"])
        watch.relist()
        rest.set()
        await until(watch.listed.is_set)
        later.set()
        await until(lambda: ("ADDED", "uid-c") in sink.pods)
        await asyncio.sleep(0.05)
    assert watch.lists == 1 and kube.calls.count("list_pod_page") == 2


async def test_host_network_pods_of_the_snapshot_come_before_their_page_and_only_once() -> None:
    kube, sink = FakeKube(), Sink()
    rest = asyncio.Event()
    late = pod_body("zz-agent", hostNetwork=True)  # listed in key order: the last page
    kube.pod_pages = [[pod_body("a")], rest, [pod_body("b"), late, pod_body("pid", hostPID=True)]]
    watch = PodWatch(kube, None, sink, Metrics())  # type: ignore[arg-type]
    async with running(watch):
        await until(lambda: (None, "uid-zz-agent") in sink.pods)
        assert not watch.listed.is_set(), "before its page, while the listing runs"
        assert kube.selected_lists == [("spec.hostNetwork=true", "100")], \
            "the same snapshot: the first page's version, exactly"
        rest.set()
        await until(watch.listed.is_set)
    assert sink.pods == [(None, "uid-a"), (None, "uid-zz-agent"), (None, "uid-b"),
                         (None, "uid-pid")], "handed once; hostPID has no selector: its page"
    assert sink.listings == [{"uid-a", "uid-b", "uid-zz-agent", "uid-pid"}]


async def test_the_host_network_listing_never_overrides_the_watch_and_its_failure_is_harmless(
) -> None:
    kube, sink = FakeKube(), Sink()
    kube.pod_pages = [[pod_body("a")], asyncio.Event(), [pod_body("agent", hostNetwork=True)]]
    kube.fail("list_pod_page_selected", 500)
    watch = PodWatch(kube, None, sink, Metrics())  # type: ignore[arg-type]
    gate = kube.pod_pages[1]
    async with running(watch):
        await until(lambda: "list_pod_page_selected" in kube.calls)
        gate.set()
        await until(watch.listed.is_set)
    assert sink.pods == [(None, "uid-a"), (None, "uid-agent")], "its page brought it"
    assert sink.listings == [{"uid-a", "uid-agent"}] and watch.lists == 1

    kube, sink = FakeKube(), Sink()
    rest = asyncio.Event()
    kube.pod_pages = [[pod_body("a")], rest, [pod_body("agent", hostNetwork=True)]]
    kube.watches = [[event("DELETED", pod_body("agent", hostNetwork=True, rv="101")),
                     asyncio.Event()]]
    watch = PodWatch(kube, None, sink, Metrics())  # type: ignore[arg-type]
    real = kube.list_pod_pages

    async def watch_first(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        if kwargs.get("field_selector"):
            await until(lambda: ("DELETED", "uid-agent") in sink.pods)
        async for page in real(*args, **kwargs):
            yield page

    kube.list_pod_pages = watch_first  # type: ignore[method-assign]
    async with running(watch):
        await until(lambda: "list_pod_page_selected" in kube.calls)
        await asyncio.sleep(0.05)
        rest.set()
        await until(watch.listed.is_set)
    assert sink.pods == [(None, "uid-a"), ("DELETED", "uid-agent")], "never resurrected"
