"""The room that owns the admission policy's parameter object (SPEC 7).

`PreventionWriter` keeps the one `HostNamespaceAdmissionParams` object in step with
the compiled exceptions: it writes only when the compiled content differs from what
the API server holds, and again at each expiry, so an Expired exception leaves the
object within a second of its `expiresAt` and not at the next exception event.

It also re-reads the object now and then (`resync_seconds`): under the Deny binding
a deleted parameter object refuses every pod write in the cluster, so the writer
puts it back without waiting for an exception to change.

Self-contained: the caller hands it the exceptions (`update`) and runs `run()` as a
task; the client is anything with `get`/`create`/`replace` (a fake in the tests,
`KubeParamsClient` against the API server).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from hostns.core.exceptions import CompiledException, next_expiry
from hostns.core.prevention import NAME, compile_params
from hostns.live.kube import Conflict, Kube

log = logging.getLogger(__name__)

#: Keys of the object that the writer owns; everything else is the API server's.
_CONTENT = ("spec", "status")


class ParamsConflict(Exception):
    """The object changed since it was read (HTTP 409): read again and retry."""


class ParamsClient(Protocol):
    async def get(self, name: str) -> Mapping[str, Any] | None:
        """The stored object, or None when there is none."""

    async def create(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """Create it; ParamsConflict when it exists already."""

    async def replace(self, name: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """Replace it (body carries the resourceVersion read); ParamsConflict if stale."""


def _content(body: Mapping[str, Any]) -> dict[str, Any]:
    labels = body.get("metadata", {}).get("labels") or {}
    return {"labels": dict(labels), **{key: body.get(key) for key in _CONTENT}}


class PreventionWriter:
    def __init__(
        self,
        client: ParamsClient,
        *,
        name: str = NAME,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        resync_seconds: float = 60.0,
        retry_seconds: float = 5.0,
    ) -> None:
        self._client = client
        self._name = name
        self._clock = clock
        self._resync_seconds = resync_seconds
        self._retry_seconds = retry_seconds
        self._exceptions: tuple[CompiledException, ...] | None = None  # None: not told yet
        self._stored: dict[str, Any] | None = None  # content last read or written
        self._changed = asyncio.Event()
        self.writes = 0

    def update(self, exceptions: Iterable[CompiledException]) -> None:
        """The exceptions as they are now (all of them: the writer picks the Active)."""
        self._exceptions = tuple(exceptions)
        self._changed.set()

    def next_wake(self) -> datetime | None:
        """The next expiry among the exceptions, when the object must change."""
        if self._exceptions is None:
            return None
        return next_expiry(self._exceptions, self._clock())

    async def sync(self, *, reread: bool = False) -> bool:
        """Bring the stored object in line with the exceptions; True when it wrote.

        Until `update` has been called nothing is written: an empty object written
        before the exceptions are listed would withdraw every exception at admission.
        """
        if self._exceptions is None:
            return False
        compiled = compile_params(self._exceptions, self._clock(), self._name)
        if compiled.omitted:
            log.warning("prevention: %d exception(s) do not fit the parameter object and "
                        "are left out (their pods are refused or warned about): %s",
                        len(compiled.omitted), ", ".join(compiled.omitted))
        wanted = compiled.body
        if not reread and self._stored == _content(wanted):
            return False
        for _attempt in range(5):
            stored = await self._client.get(self._name)
            try:
                if stored is None:
                    await self._client.create(wanted)
                elif _content(stored) == _content(wanted):
                    self._stored = _content(wanted)
                    return False
                else:
                    version = stored.get("metadata", {}).get("resourceVersion")
                    body = {**wanted, "metadata": {**wanted["metadata"],
                                                   "resourceVersion": version}}
                    await self._client.replace(self._name, body)
            except ParamsConflict:
                continue  # someone else wrote in between: read again
            self._stored = _content(wanted)
            self.writes += 1
            log.info("prevention: wrote %s with %d exception(s)", self._name,
                     len(wanted["spec"]["exceptions"]))
            return True
        raise ParamsConflict(f"{self._name}: still conflicting after 5 attempts")

    async def run(self) -> None:
        """Sync on every update, at each expiry, and every `resync_seconds` (re-read)."""
        reread = False
        while True:
            self._changed.clear()
            try:
                await self.sync(reread=reread)
                timeout = self._resync_seconds
            except asyncio.CancelledError:
                raise
            except Exception:  # an API error must not end the room: retry soon
                log.exception("prevention: cannot write %s; retrying", self._name)
                self._stored = None
                timeout = self._retry_seconds
            wake = self.next_wake()
            if wake is not None:
                until_expiry = (wake - self._clock()).total_seconds()
                timeout = min(timeout, max(until_expiry, 0.0) + 0.05)
            reread = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
                continue
            reread = wake is None or self._clock() < wake  # a plain resync, not an expiry


class KubeParamsClient:
    """ParamsClient over the operator's API client: its writes are fenced when this
    replica stops leading, counted, and its errors typed like every other write."""

    def __init__(self, kube: Kube) -> None:
        self._kube = kube

    async def get(self, name: str) -> Mapping[str, Any] | None:
        return await self._kube.get_admission_params(name)

    async def create(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        try:
            return await self._kube.create_admission_params(dict(body))
        except Conflict as exc:  # created meanwhile (a previous leader): read it again
            raise ParamsConflict(str(exc)) from exc

    async def replace(self, name: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        try:
            return await self._kube.replace_admission_params(name, dict(body))
        except Conflict as exc:  # resourceVersion moved on: read it again
            raise ParamsConflict(str(exc)) from exc
