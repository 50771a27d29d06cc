"""Pods as served: the head decode reads exactly the flags and the uid, and fails closed."""

from __future__ import annotations

import json

import pytest

from hostns.wire import WireError, decode_line, decode_page, full, pod_head


@pytest.mark.parametrize(
    ("raw", "uses"),
    [
        pytest.param(b'{"metadata":{"uid":"u"},"spec":{"containers":[]}}', False, id="no flag"),
        pytest.param(b'{"metadata":{"uid":"u"},"spec":{"hostNetwork":false}}', False, id="explicit false"),
        pytest.param(b'{"metadata":{"uid":"u"},"spec":{"hostNetwork":true}}', True, id="hostNetwork"),
        pytest.param(b'{"metadata":{"uid":"u"},"spec":{"hostPID":true}}', True, id="hostPID"),
        pytest.param(b'{"metadata":{"uid":"u"},"spec":{"hostIPC":true}}', True, id="hostIPC"),
        pytest.param(rb'{"metadata":{"uid":"u"},"spec":{"host\u004eetwork":true}}', True,
                     id="a JSON escape in the key cannot hide the flag"),
        pytest.param(b'{"spec" : { "hostPID" :\n true }, "metadata":{"uid":"u"}}', True,
                     id="whitespace and key order do not matter"),
        pytest.param(b'{"metadata":{"uid":"u"},"spec":{"hostIPC":"true"}}', True,
                     id="a string counts (fail closed)"),
        pytest.param(b'{"metadata":{"uid":"u"},"spec":{"hostIPC":1}}', True, id="a number counts"),
        pytest.param(b'{"metadata":{"uid":"u"},"spec":{"x":{"hostNetwork":true}}}', False,
                     id="a nested key of the same name is not the flag"),
    ],
)
def test_the_head_reads_the_three_flags_as_the_full_decode_would(raw: bytes, uses: bool) -> None:
    head = pod_head(raw)
    assert head is not None and head.uid == "u"
    assert head.uses_host_namespace is uses


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"metadata":{"uid":"u"},"spec":"hostNetwork"}', id="spec not an object"),
        pytest.param(b'{"metadata":["u"],"spec":{}}', id="metadata not an object"),
        pytest.param(b'[1, 2]', id="not an object at all"),
        pytest.param(b'{"metadata":', id="truncated"),
    ],
)
def test_a_strange_shape_gives_no_head_so_the_pod_is_decoded_in_full(raw: bytes) -> None:
    assert pod_head(raw) is None


def test_a_head_without_a_uid_has_none() -> None:
    head = pod_head(b'{"metadata":{"uid":""},"spec":{}}')
    assert head is not None and head.uid is None


def test_a_page_keeps_items_raw_and_gives_its_version_and_continue_token() -> None:
    items = [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]
    page = decode_page(json.dumps({"kind": "PodList", "items": items,
                                   "metadata": {"resourceVersion": "7", "continue": "c"}}).encode())
    assert [full(raw) for raw in page.items] == items
    assert (page.resource_version, page.continue_token) == ("7", "c")


@pytest.mark.parametrize("raw", [b'{"kind":"Status","code":500}', b'{"items":null}', b"<html>"])
def test_a_page_that_is_not_a_pod_list_is_an_error_never_an_empty_list(raw: bytes) -> None:
    with pytest.raises(WireError):
        decode_page(raw)


def test_a_watch_line_keeps_its_object_raw() -> None:
    line = decode_line(b'{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}')
    head = pod_head(line.object)
    assert line.type == "BOOKMARK" and head is not None and head.resource_version == "9"
    with pytest.raises(WireError):
        decode_line(b'{"object":{}}')
