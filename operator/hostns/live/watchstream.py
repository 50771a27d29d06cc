"""The pod watch's transport: a reader thread doing blocking TLS reads.

Reading a watch through aiohttp costs more CPU than everything the operator does
with an event: asyncio's TLS protocol decrypts in Python-level buffers, aiohttp
parses the chunked body, and the event loop wakes once per event. Almost every
event is a pod that uses no host namespace and is not tracked, which needs nothing
(its flags cannot change). So one thread per watch reads the stream with blocking
`recv`s on an `ssl` socket (decryption in OpenSSL, the GIL released while it
waits), splits the chunked body into lines, decodes each line's head
(hostns.live.wire) and asks the sink whether it `wants` the pod. Only those events
(host-namespace pods, tracked uids, heads that did not decode) and ERRORs cross to
the event loop, in batches, with one `call_soon_threadsafe` per batch; the rest
leave only a count and the last resourceVersion (bookmarks included), handed over
within `TICK_SECONDS`. After a read with nothing to hand over the thread waits
`GATHER_SECONDS` before the next one: a busy stream is then read in a few large
passes instead of one wake-up per event (a wake-up costs more than the event), at the
price of that much delay for a host-namespace pod.

The request itself (URL, bearer token — refreshed by the client's own hook —, TLS
context from the same configuration) is built by `Kube.watch_request` on the event
loop; this module only speaks HTTP/1.1 on the socket it is given. Every failure
(an HTTP error status, an ERROR line, a dropped or silent connection, a line that
does not decode) ends the stream and is raised on the event loop, where the pod
watch handles it exactly as for the aiohttp transport (`batches_from_lines`).
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field

import msgspec

from hostns.live.kube import ApiError, WatchRequest, api_error_from_body
from hostns.live.wire import LineSplitter, PodHead, WireError, decode_line, pod_head

FLUSH_SECONDS = 0.25  # skipped events' count and version reach the loop at least this often
TICK_SECONDS = 0.5  # the reader looks up from a quiet socket this often (stop, flush)
READ_BYTES = 256 * 1024
DRAIN_BYTES = 8 * 1024 * 1024
GATHER_SECONDS = 0.1
PENDING_LIMIT = 2_000  # events waiting for the loop before the reader waits (back-pressure)
_HEAD_LIMIT = 64 * 1024
_ERROR_BODY_LIMIT = 64 * 1024

Wants = Callable[[PodHead | None], bool]


@dataclass
class WatchBatch:
    """Watch events in the server's order, as far as the loop needs them."""

    # (type, head, object) of the events the sink wants, and ERROR events.
    events: list[tuple[str, PodHead | None, msgspec.Raw]] = field(default_factory=list)
    skipped: int = 0  # events of pods the sink does not want (not handed over)
    seen: int = 0  # every event read, bookmarks included
    resource_version: str | None = None  # of the last event read

    def __bool__(self) -> bool:
        return bool(self.seen)

    def merge(self, other: WatchBatch) -> None:
        self.events.extend(other.events)
        self.skipped += other.skipped
        self.seen += other.seen
        self.resource_version = other.resource_version or self.resource_version


class Sorter:
    """Decodes watch lines and sorts them into a batch: one way for both transports."""

    def __init__(self, wants: Wants) -> None:
        self._wants = wants
        self.batch = WatchBatch()
        self.ended = False  # an ERROR was read: the server ends the stream

    def line(self, raw: bytes) -> None:
        event = decode_line(raw)  # WireError: fail closed, the watch ends
        batch = self.batch
        batch.seen += 1
        if event.type == "ERROR":
            batch.events.append((event.type, None, event.object))
            self.ended = True
            return
        head = pod_head(event.object)
        if head is not None and head.resource_version:
            batch.resource_version = head.resource_version
        if event.type == "BOOKMARK":
            return
        if self._wants(head):
            batch.events.append((event.type, head, event.object))
        else:
            batch.skipped += 1

    def take(self) -> WatchBatch:
        batch, self.batch = self.batch, WatchBatch()
        return batch


async def batches_from_lines(
    lines: AsyncIterator[bytes], wants: Wants
) -> AsyncGenerator[WatchBatch, None]:
    """The aiohttp transport's lines as batches of one event (decoded on the loop)."""
    sorter = Sorter(wants)
    async for line in lines:
        sorter.line(line)
        yield sorter.take()
        if sorter.ended:
            return


class ChunkDecoder:
    """HTTP/1.1 chunked transfer coding, incrementally: payload pieces out."""

    def __init__(self) -> None:
        self._buffer = b""
        self._left = 0  # payload bytes still due in the current chunk
        self._crlf = False  # the CRLF after a chunk's payload is due
        self.done = False  # the last (empty) chunk was read

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        buffer = self._buffer + data if self._buffer else data
        pos, end = 0, len(buffer)
        while pos < end and not self.done:
            if self._left:
                piece = buffer[pos:pos + self._left]
                out.append(piece)
                self._left -= len(piece)
                pos += len(piece)
                self._crlf = not self._left
            elif self._crlf:
                if end - pos < 2:
                    break
                if buffer[pos:pos + 2] != b"\r\n":
                    raise WireError("malformed chunked watch body: no CRLF after a chunk")
                pos += 2
                self._crlf = False
            else:
                stop = buffer.find(b"\r\n", pos)
                if stop < 0:
                    if end - pos > 1024:
                        raise WireError("malformed chunked watch body: no chunk size")
                    break
                try:
                    size = int(buffer[pos:stop].split(b";", 1)[0], 16)
                except ValueError:
                    raise WireError(
                        f"malformed chunked watch body: chunk size {buffer[pos:stop][:40]!r}"
                    ) from None
                if size < 0:
                    raise WireError("malformed chunked watch body: negative chunk size")
                pos = stop + 2
                self._left = size
                self.done = size == 0
        self._buffer = buffer[pos:] if not self.done else b""
        return out


class _Stopped(Exception):
    """The loop closed the stream: end quietly."""


class ThreadedWatch:
    """One WATCH request read by its own thread; `batches()` on the event loop."""

    def __init__(self, request: WatchRequest, wants: Wants) -> None:
        self._request = request
        self._sorter = Sorter(wants)
        self._condition = threading.Condition()
        self._pending = WatchBatch()
        self._scheduled = False
        self._done = False
        self._error: BaseException | None = None
        self._stopped = False
        self._socket: socket.socket | None = None
        self._ready = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="hostns-pod-watch", daemon=True)

    # --- on the event loop --------------------------------------------------------------

    async def batches(self) -> AsyncGenerator[WatchBatch, None]:
        self._thread.start()
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                with self._condition:
                    batch, self._pending = self._pending, WatchBatch()
                    done, error = self._done, self._error
                    self._scheduled = False
                    self._condition.notify_all()
                if batch:
                    yield batch
                if done:
                    if error is not None:
                        raise error
                    return
        finally:
            self.close()

    def close(self) -> None:
        """Stop the reader: it ends at its next read (at once: the socket is shut down)."""
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
            sock = self._socket
        if sock is not None:
            # socket.shutdown, not SSLSocket.shutdown: the reader thread may be inside
            # a TLS read; this only makes its recv return.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    # --- on the reader thread -------------------------------------------------------------

    def _publish(self, batch: WatchBatch, *, done: bool = False) -> None:
        with self._condition:
            while (len(self._pending.events) >= PENDING_LIMIT and not self._stopped
                   and not done):
                self._condition.wait(TICK_SECONDS)
            if self._stopped and not done:
                raise _Stopped
            self._pending.merge(batch)
            self._done = self._done or done
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            self._loop.call_soon_threadsafe(self._ready.set)

    def _run(self) -> None:
        try:
            self._read()
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the loop, raised there
            self._error = exc if isinstance(exc, Exception) else ApiError(0, repr(exc))
        finally:
            sock, self._socket = self._socket, None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
            with contextlib.suppress(_Stopped):
                self._publish(self._sorter.take(), done=True)

    def _connect(self) -> socket.socket:
        request = self._request
        sock: socket.socket = socket.create_connection(
            (request.host, request.port), timeout=request.connect_timeout
        )
        try:
            if request.tls is not None:
                sock = request.tls.wrap_socket(
                    sock, server_hostname=request.server_hostname or request.host
                )
            sock.settimeout(TICK_SECONDS)
        except BaseException:
            sock.close()
            raise
        return sock

    def _recv(self, sock: socket.socket) -> bytes:
        """The next bytes; b"" at the end; raises when silent past the read timeout."""
        silent_since = time.monotonic()
        while True:
            if self._stopped:
                raise _Stopped
            try:
                return sock.recv(READ_BYTES)
            except (TimeoutError, ssl.SSLWantReadError):
                pass
            if self._sorter.batch:
                self._publish(self._sorter.take())
            if time.monotonic() - silent_since > self._request.read_timeout:
                raise TimeoutError(
                    f"pod watch silent for more than {self._request.read_timeout:.0f}s"
                ) from None

    def _drain(self, sock: socket.socket) -> bytes:
        """The next bytes (blocking), then whatever else is already there without
        waiting, up to READ_BYTES: one pass of the loop for many TLS records."""
        data = self._recv(sock)
        parts, size = [data], len(data)
        poll = None
        while data and size < DRAIN_BYTES:
            if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                if poll is None:
                    poll = select.poll()
                    poll.register(sock, select.POLLIN)
                if not poll.poll(0):
                    break
            try:
                data = sock.recv(READ_BYTES)
            except TimeoutError:  # a TLS record still in flight: take it next time
                break
            parts.append(data)
            size += len(data)
        return b"".join(parts) if len(parts) > 1 else parts[0]

    def _read(self) -> None:
        sock = self._connect()
        with self._condition:
            if self._stopped:
                sock.close()
                raise _Stopped
            self._socket = sock
        sock.sendall(self._request.head())
        head, body = b"", b""
        while b"\r\n\r\n" not in head:
            data = self._recv(sock)
            if not data:
                raise ConnectionError("the API server closed the watch before answering")
            head += data
            if len(head) > _HEAD_LIMIT and b"\r\n\r\n" not in head:
                raise WireError("the watch response's header is too long")
        head, body = head.split(b"\r\n\r\n", 1)
        status, reason, headers = _parse_head(head)
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if not 200 <= status <= 299:
            raise api_error_from_body(status, reason, self._error_body(sock, body, chunked))
        self._stream(sock, body, chunked)

    def _stream(self, sock: socket.socket, data: bytes, chunked: bool) -> None:
        decoder = ChunkDecoder() if chunked else None
        lines = LineSplitter()
        sorter = self._sorter
        flushed = time.monotonic()
        while True:
            pieces = decoder.feed(data) if decoder is not None else [data]
            for piece in pieces:
                for line in lines.feed(piece):
                    sorter.line(line)
                    if sorter.ended:
                        return  # an ERROR: the loop raises it
            if sorter.batch.events or (
                sorter.batch and time.monotonic() - flushed >= FLUSH_SECONDS
            ):
                self._publish(sorter.take())
                flushed = time.monotonic()
            if decoder is not None and decoder.done:
                break
            if GATHER_SECONDS and not sorter.batch.events:
                time.sleep(GATHER_SECONDS)
            data = self._drain(sock)
            if not data:
                if decoder is not None:
                    raise ConnectionError("the pod watch's connection dropped mid-stream")
                break
        last = lines.rest()
        if last is not None:
            sorter.line(last)

    def _error_body(self, sock: socket.socket, body: bytes, chunked: bool) -> bytes:
        """An error's Status body, best effort (the error is raised in any case)."""
        with contextlib.suppress(OSError, WireError, _Stopped):
            decoder = ChunkDecoder() if chunked else None
            read = b""
            data = body
            while len(read) < _ERROR_BODY_LIMIT:
                read += b"".join(decoder.feed(data)) if decoder is not None else data
                if (decoder is not None and decoder.done) or _complete_json(read):
                    break
                data = self._recv(sock)
                if not data:
                    break
            return read
        return b""


def _complete_json(body: bytes) -> bool:
    try:
        msgspec.json.decode(body)
    except msgspec.DecodeError:
        return False
    return True


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise WireError(f"not an HTTP response: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers
