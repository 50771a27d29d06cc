"""The pod watch's reader thread against a loopback TLS API server (real HTTP chunked watch).

The server is aiohttp on 127.0.0.1 with a certificate of a test CA, requiring a client
certificate of that CA and a bearer token; the client is the real `Kube` over a
kubernetes_asyncio configuration, so the watch is sent by hostns.live.watchstream's
thread with the credentials that configuration holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web
from kubernetes_asyncio import client

from hostns.live.kube import Kube
from hostns.live.metrics import Metrics
from hostns.live.podwatch import PodWatch
from hostns.live.watchstream import ChunkDecoder
from hostns.live.wire import PodHead, WireError

from .fakes import pod_body, until

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hack" / "controlplane"))
from launcher import _make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pki")
    _make_pki(path)
    return path


pytestmark = pytest.mark.usefixtures("quick_backoff")


class ApiServer:
    """LIST answers one page at version 100; each WATCH plays the next script:
    a dict is an event line, bytes a raw line, an int an HTTP error status (first
    item only), "drop" closes the connection mid-stream, "hang" keeps it open."""

    def __init__(self) -> None:
        self.scripts: list[list[Any]] = []
        self.listed: list[dict[str, Any]] = [pod_body("a")]
        self.watches: list[dict[str, str]] = []  # query, Authorization, client cert subject
        self.app = web.Application()
        self.app.router.add_get("/api/v1/pods", self.pods)

    async def pods(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "true":
            return web.json_response({"kind": "PodList", "items": self.listed,
                                      "metadata": {"resourceVersion": "100"}})
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        subject = dict(x[0] for x in peer["subject"]) if peer else {}
        self.watches.append({**request.query,
                             "authorization": request.headers.get("Authorization", ""),
                             "client": str(subject.get("commonName", ""))})
        script = self.scripts.pop(0) if self.scripts else ["hang"]
        if script and isinstance(script[0], int):
            return web.json_response({"kind": "Status", "code": script[0], "message": "no"},
                                     status=script[0])
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for item in script:
            if item == "hang":
                await asyncio.Event().wait()
            if item == "drop":
                assert request.transport is not None
                request.transport.abort()
                return response
            await response.write(item if isinstance(item, bytes) else json.dumps(item).encode()
                                 + b"\n")
        await response.write_eof()
        return response


@contextlib.asynccontextmanager
async def serving(pki: Path, server: ApiServer) -> AsyncIterator[int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.crt"))
    context.load_cert_chain(pki / "serving.crt", pki / "serving.key")
    context.verify_mode = ssl.CERT_REQUIRED
    runner = web.AppRunner(server.app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield port
    finally:
        await runner.cleanup()


def kube_for(pki: Path, port: int, ca: str = "ca.crt") -> Kube:
    configuration = client.Configuration()
    configuration.host = f"https://127.0.0.1:{port}"
    configuration.ssl_ca_cert = str(pki / ca)
    configuration.cert_file = str(pki / "admin.crt")
    configuration.key_file = str(pki / "admin.key")
    configuration.api_key = {"BearerToken": "token-0"}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    refreshes = [0]

    def refresh(config: client.Configuration) -> None:  # as a token file re-read does
        refreshes[0] += 1
        config.api_key = {"BearerToken": f"token-{refreshes[0]}"}

    configuration.refresh_api_key_hook = refresh
    return Kube(client.ApiClient(configuration))


class Sink:
    """Wants host-namespace pods only, as the intake does with nothing tracked."""

    def __init__(self) -> None:
        self.pods: list[tuple[str | None, str | None]] = []
        self.skipped = 0
        self.threads: set[str] = set()

    def on_pod(self, event_type: str | None, head: PodHead | None, raw: msgspec.Raw) -> bool:
        self.pods.append((event_type, head.uid if head else None))
        return True

    def on_listed(self, namespace: str | None, tracked: set[str], since: float) -> None:
        pass

    def wants(self, head: PodHead | None) -> bool:
        self.threads.add(threading.current_thread().name)
        return head is None or head.uses_host_namespace

    def on_skipped(self, count: int) -> None:
        self.skipped += count


def added(name: str, rv: str, **flags: Any) -> dict[str, Any]:
    return {"type": "ADDED", "object": pod_body(name, rv=rv, **flags)}


@contextlib.asynccontextmanager
async def watching(kube: Kube, sink: Sink) -> AsyncIterator[PodWatch]:
    watch = PodWatch(kube, None, sink, Metrics())
    task = asyncio.create_task(watch.run())
    try:
        yield watch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await kube.close()


async def test_only_wanted_events_reach_the_loop_and_the_watch_resumes_after_skipped_ones(
    pki: Path,
) -> None:
    server = ApiServer()
    server.scripts = [[added("plain", "110"), added("host", "120", hostNetwork=True),
                       added("plain2", "130"),
                       {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "140"}}}],
                      [added("plain3", "150")]]
    sink = Sink()
    async with serving(pki, server) as port, watching(kube_for(pki, port), sink) as watch:
        await until(lambda: len(server.watches) == 3)
        await until(lambda: sink.skipped == 3)
        assert watch.resource_version == "150"
    assert sink.pods == [(None, "uid-a"), ("ADDED", "uid-host")]  # the listing, then one
    assert sink.threads == {"hostns-pod-watch"}, "heads are judged on the reader thread"
    assert [w["resourceVersion"] for w in server.watches] == ["100", "140", "150"]
    first = server.watches[0]
    assert first["allowWatchBookmarks"] == "true" and first["timeoutSeconds"] == "300"
    assert first["client"] == "hostns-admin", "the configuration's client certificate"
    # The client's refresh hook runs for every watch, as it does for every request.
    tokens = [w["authorization"] for w in server.watches]
    assert all(t.startswith("Bearer token-") for t in tokens) and len(set(tokens)) == 3


async def test_a_410_error_line_lists_again(pki: Path) -> None:
    server = ApiServer()
    server.scripts = [[added("host", "120", hostNetwork=True),
                       {"type": "ERROR", "object": {"kind": "Status", "code": 410,
                                                    "message": "too old resource version"}},
                       added("never", "130", hostNetwork=True)]]
    sink = Sink()
    async with serving(pki, server) as port, watching(kube_for(pki, port), sink) as watch:
        await until(lambda: watch.lists == 2 and len(server.watches) == 2)
    assert sink.pods[:2] == [(None, "uid-a"), ("ADDED", "uid-host")]
    assert ("ADDED", "uid-never") not in sink.pods, "nothing after the ERROR is read"


@pytest.mark.parametrize("script", [[429], [500], [503],
                                    [added("host", "120", hostNetwork=True), "drop"]])
async def test_a_failed_or_dropped_watch_resumes_from_the_last_version_without_a_list(
    pki: Path, script: list[Any],
) -> None:
    server = ApiServer()
    server.scripts = [script]
    sink = Sink()
    async with serving(pki, server) as port, watching(kube_for(pki, port), sink) as watch:
        await until(lambda: len(server.watches) == 2)
        assert watch.lists == 1
    expected = "120" if script[-1] == "drop" else "100"
    assert [w["resourceVersion"] for w in server.watches] == ["100", expected]


async def test_an_unreadable_line_ends_the_watch_and_nothing_after_it_is_taken(
    pki: Path,
) -> None:
    server = ApiServer()
    server.scripts = [[b'{"type": "ADDED", "object": {"metadata": \n',
                       added("host", "120", hostNetwork=True)]]
    sink = Sink()
    async with serving(pki, server) as port, watching(kube_for(pki, port), sink):
        await until(lambda: len(server.watches) == 2)
    assert ("ADDED", "uid-host") not in sink.pods
    assert [w["resourceVersion"] for w in server.watches] == ["100", "100"]


async def test_a_large_pod_crosses_many_reads_intact(pki: Path) -> None:
    server = ApiServer()
    big = added("big", "120", hostNetwork=True)
    big["object"]["metadata"]["annotations"] = {"blob": "x" * 1_500_000}
    server.scripts = [[big, added("host", "130", hostNetwork=True)]]
    sink = Sink()
    async with serving(pki, server) as port, watching(kube_for(pki, port), sink) as watch:
        await until(lambda: ("ADDED", "uid-host") in sink.pods)
        assert watch.resource_version == "130"
    assert sink.pods[1:] == [("ADDED", "uid-big"), ("ADDED", "uid-host")]


async def test_a_server_certificate_of_another_ca_is_refused(
    pki: Path, tmp_path: Path,
) -> None:
    other = tmp_path / "other"
    _make_pki(other)
    (pki / "other-ca.crt").write_bytes((other / "ca.crt").read_bytes())
    server = ApiServer()
    kube = kube_for(pki, 0, ca="other-ca.crt")
    async with serving(pki, server) as port:
        kube.api_client.configuration.host = f"https://127.0.0.1:{port}"
        request = await kube.watch_request(None, "100")
        assert request is not None
        from hostns.live.watchstream import ThreadedWatch

        with pytest.raises(ssl.SSLCertVerificationError):
            async for _ in ThreadedWatch(request, lambda head: True).batches():
                pass
        await kube.close()
    assert server.watches == []


async def test_stopping_the_watch_stops_its_thread(pki: Path) -> None:
    server = ApiServer()
    server.scripts = [[added("host", "120", hostNetwork=True), "hang"]]
    sink = Sink()
    async with serving(pki, server) as port, watching(kube_for(pki, port), sink):
        await until(lambda: ("ADDED", "uid-host") in sink.pods)
        assert any(t.name == "hostns-pod-watch" for t in threading.enumerate())
    await until(lambda: not any(t.name == "hostns-pod-watch" for t in threading.enumerate()))


def test_a_token_with_a_line_break_is_never_sent(pki: Path) -> None:
    from hostns.live.kube import ApiError, WatchRequest

    request = WatchRequest("127.0.0.1", 1, "/api/v1/pods",
                           {"authorization": "Bearer x\r\nX-Evil: 1"}, None)
    with pytest.raises(ApiError, match="line break"):
        request.head()
    assert "Bearer" not in repr(request)


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64])
def test_the_chunk_decoder_reads_any_split_of_the_body(step: int) -> None:
    payloads = [b"hello ", b"x" * 300, b"\n{}\n"]
    body = b"".join(f"{len(p):x};ext=1\r\n".encode() + p + b"\r\n" for p in payloads)
    body += b"0\r\n\r\n"
    decoder, out = ChunkDecoder(), []
    for start in range(0, len(body), step):
        out += decoder.feed(body[start:start + step])
    assert b"".join(out) == b"".join(payloads) and decoder.done


@pytest.mark.parametrize("body", [b"zz\r\nab\r\n", b"2\r\nabXY", b"1" * 2000])
def test_a_malformed_chunked_body_is_an_error(body: bytes) -> None:
    with pytest.raises(WireError):
        ChunkDecoder().feed(body)
