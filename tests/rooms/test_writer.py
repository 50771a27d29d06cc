"""The finding writer: arrival order, coalescing, one write at a time per workload, retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from hostns.core.workloads import Workload
from hostns.live.kube import api_error
from hostns.live.writer import FindingWriter

from .fakes import until


def workload(name: str) -> Workload:
    return Workload("apps", "v1", "Pod", name)


class Recorder:
    def __init__(self) -> None:
        self.flushed: list[str] = []
        self.running: set[str] = set()
        self.overlaps = 0
        self.fail: dict[str, int] = {}
        self.delay = 0.0

    async def __call__(self, w: Workload) -> None:
        if w.name in self.running:
            self.overlaps += 1
        self.running.add(w.name)
        try:
            await asyncio.sleep(self.delay)
            if self.fail.get(w.name, 0):
                self.fail[w.name] -= 1
                raise api_error(503, "unavailable")
            self.flushed.append(w.name)
        finally:
            self.running.discard(w.name)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def make(recorder: Recorder) -> AsyncIterator[Callable[..., FindingWriter]]:
    writers: list[FindingWriter] = []

    def build(**kwargs: float) -> FindingWriter:
        writer = FindingWriter(recorder, **kwargs)  # type: ignore[arg-type]
        writer.start()
        writers.append(writer)
        return writer

    yield build
    for writer in writers:
        await writer.stop()


async def test_workloads_are_written_in_arrival_order_not_name_order(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    writer = make(coalesce=0.01, concurrency=1)
    writer.mark([workload(n) for n in ("zeta", "alpha", "mid")])
    await until(lambda: len(recorder.flushed) == 3)
    assert recorder.flushed == ["zeta", "alpha", "mid"]


async def test_a_burst_of_marks_within_the_window_is_one_write(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    writer = make(coalesce=0.5)
    for _ in range(50):
        writer.mark([workload("daemonset")])
        await asyncio.sleep(0)
    await until(lambda: recorder.flushed == ["daemonset"])
    await asyncio.sleep(0.3)
    assert recorder.flushed == ["daemonset"]


async def test_a_mark_during_a_write_writes_again_after_it_never_at_the_same_time(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    recorder.delay = 0.1
    writer = make(coalesce=0.0, concurrency=8)
    writer.mark([workload("a")])
    await until(lambda: "a" in recorder.running)
    writer.mark([workload("a")])
    await until(lambda: recorder.flushed == ["a", "a"])
    assert recorder.overlaps == 0


async def test_a_failed_write_is_retried_after_a_back_off(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    errors: list[Exception] = []
    writer = FindingWriter(recorder, coalesce=0.0, on_error=lambda w, e: errors.append(e))
    writer.start()
    try:
        recorder.fail["flaky"] = 2
        writer.mark([workload("flaky")])
        await until(lambda: recorder.flushed == ["flaky"], timeout=10)
        assert len(errors) == 2
    finally:
        await writer.stop()


async def test_a_held_writer_writes_nothing_until_released(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    writer = make(coalesce=0.0)
    writer.hold()
    writer.mark([workload("a"), workload("b")])
    await asyncio.sleep(0.1)
    assert recorder.flushed == [] and writer.backlog == 2
    writer.release()
    await until(lambda: sorted(recorder.flushed) == ["a", "b"])


async def test_many_workers_write_many_findings_at_once(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    recorder.delay = 0.05
    writer = make(coalesce=0.0, concurrency=32)
    writer.mark([workload(f"w{i}") for i in range(64)])
    started = asyncio.get_running_loop().time()
    await until(lambda: len(recorder.flushed) == 64)
    assert asyncio.get_running_loop().time() - started < 1.0  # 64 x 50 ms would be 3.2 s


async def test_due_counts_what_could_be_written_now_and_nothing_while_held(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    writer = FindingWriter(recorder, coalesce=60.0)  # type: ignore[arg-type]
    writer.mark([workload("later")])
    assert writer.due == 0 and writer.backlog == 1  # still in its coalescing window
    writer.hold()
    assert writer.due == 0


async def test_a_hold_with_a_predicate_writes_what_it_allows_and_keeps_the_rest(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    violating = {"v1", "v2"}
    writer = make(coalesce=0.0)
    writer.hold(allow=lambda w: w.name in violating)
    writer.mark([workload("resolved"), workload("v1"), workload("excepted"), workload("v2")])
    await until(lambda: sorted(recorder.flushed) == ["v1", "v2"])
    await asyncio.sleep(0.1)
    assert sorted(recorder.flushed) == ["v1", "v2"] and writer.backlog == 2
    assert writer.due == 0, "nothing the hold refused counts as due"
    writer.release()
    await until(lambda: len(recorder.flushed) == 4)
    assert recorder.flushed[2:] == ["resolved", "excepted"], "the refused ones in arrival order"


async def test_a_refused_workload_marked_again_is_looked_at_again(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    violating: set[str] = set()
    writer = make(coalesce=0.0)
    writer.hold(allow=lambda w: w.name in violating)
    writer.mark([workload("a")])
    await asyncio.sleep(0.05)
    assert recorder.flushed == [] and writer.backlog == 1
    violating.add("a")  # its uncovered pod arrived
    writer.mark([workload("a")])
    await until(lambda: recorder.flushed == ["a"])
    writer.release()
    await asyncio.sleep(0.05)
    assert recorder.flushed == ["a"] and writer.backlog == 0, "written once, not again"


async def test_an_urgent_mark_is_written_at_once_ahead_of_the_coalescing_queue(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    writer = make(coalesce=60.0)
    writer.mark([workload("waiting")])
    writer.mark([workload("new-violation")], urgent=True)
    await until(lambda: recorder.flushed == ["new-violation"], timeout=1)
    assert writer.backlog == 1 and writer.due == 0, "the other one still waits its window"


async def test_an_urgent_mark_of_a_waiting_workload_takes_it_out_of_its_window_once(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    writer = make(coalesce=60.0)
    writer.mark([workload("ds")])
    writer.mark([workload("ds")], urgent=True)
    writer.mark([workload("ds")])  # the rest of the burst: already due
    await until(lambda: recorder.flushed == ["ds"], timeout=1)
    await asyncio.sleep(0.05)
    assert recorder.flushed == ["ds"] and writer.backlog == 0


async def test_an_urgent_mark_during_its_write_writes_again_at_once_after_it(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    recorder.delay = 0.05
    writer = make(coalesce=60.0)
    writer.mark([workload("a")], urgent=True)
    await until(lambda: "a" in recorder.running)
    writer.mark([workload("a")])
    writer.mark([workload("a")], urgent=True)
    await until(lambda: recorder.flushed == ["a", "a"], timeout=1)
    assert recorder.overlaps == 0


async def test_a_hold_refuses_urgent_marks_its_predicate_refuses(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    writer = make(coalesce=60.0)
    writer.hold(allow=lambda w: w.name == "new")
    writer.mark([workload("known"), workload("new")], urgent=True)
    await until(lambda: recorder.flushed == ["new"], timeout=1)
    await asyncio.sleep(0.05)
    assert recorder.flushed == ["new"] and writer.backlog == 1
    writer.release()
    await until(lambda: recorder.flushed == ["new", "known"], timeout=1)


async def test_a_finding_rewritten_moments_ago_waits_the_longer_window_and_blocks_no_other(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    writer = make(coalesce=0.05)  # hot: 8 x 0.05 = 0.4 s
    writer.mark([workload("rolling")])
    await until(lambda: recorder.flushed == ["rolling"], timeout=1)
    writer.mark([workload("rolling")])  # its roll-out goes on
    writer.mark([workload("other")])
    await until(lambda: recorder.flushed == ["rolling", "other"], timeout=1)
    await asyncio.sleep(0.15)
    assert recorder.flushed == ["rolling", "other"], "still in its longer window"
    await until(lambda: recorder.flushed == ["rolling", "other", "rolling"], timeout=1)


async def test_urgent_marks_and_quiet_findings_are_not_held_back_by_the_longer_window(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    writer = make(coalesce=0.05)
    writer.mark([workload("a")], urgent=True)  # a new detection
    await until(lambda: recorder.flushed == ["a"], timeout=1)
    started = asyncio.get_running_loop().time()
    writer.mark([workload("a")])  # the rest of its burst: the normal window
    await until(lambda: recorder.flushed == ["a"] * 2, timeout=1)
    assert asyncio.get_running_loop().time() - started < 0.3, "not hot after a detection"
    writer.mark([workload("a")], urgent=True)  # a new detection goes at once, hot or not
    await until(lambda: recorder.flushed == ["a"] * 3, timeout=0.3)
    await asyncio.sleep(0.5)  # longer than the hot window: "a" is quiet again
    started = asyncio.get_running_loop().time()
    writer.mark([workload("a")])
    await until(lambda: len(recorder.flushed) == 4, timeout=1)
    assert asyncio.get_running_loop().time() - started < 0.3, "the normal window again"


async def test_the_release_corrects_what_was_written_during_the_hold_at_once(
    recorder: Recorder, make: Callable[..., FindingWriter]
) -> None:
    writer = make(coalesce=0.05)
    writer.hold(allow=lambda w: True)
    writer.mark([workload("ds")])  # written during the listing, as the hold allows
    await until(lambda: recorder.flushed == ["ds"], timeout=1)
    writer.mark([workload("ds")])  # the listing's end marks every finding: hot
    writer.release()
    started = asyncio.get_running_loop().time()
    await until(lambda: recorder.flushed == ["ds", "ds"], timeout=1)
    assert asyncio.get_running_loop().time() - started < 0.3, "not a hot window later"
