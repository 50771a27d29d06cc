"""The audit webhook: kube-apiserver's webhook backend POSTs `EventList` batches here.

HTTPS only (TLS 1.2 or later, the operator's own serving certificate). The caller
is authenticated before anything else: a client certificate that chains to
`--audit-webhook-client-ca`, and/or the bearer token of `--audit-webhook-token-file`
(compared in constant time); with both configured, both are required. Anything else
gets 401 and is counted; its body is never read. (A client certificate from another
CA fails the TLS handshake itself: no HTTP exchange, nothing to answer.)

Bodies are bounded (`--audit-webhook-max-body`, 413 beyond) and checked cheaply on
the event loop (malformed: 400, counted). A batch without any pod or workload write
— most of them — is answered 200 and dropped here. The others go to the attribution
room through a bounded queue; when it is full the answer is 429 with Retry-After,
which the API server's batch backend retries with its back-off
(`--audit-webhook-initial-backoff`) before it gives the batch up. A standby replica
(leader election) answers 503 with Retry-After, so the batch is retried, reaching
the leader through the Service.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
from collections.abc import Callable
from typing import Final

from aiohttp import web

from hostns.live.attribution import Attribution
from hostns.live.config import AuditWebhookConfig, ConfigError
from hostns.live.metrics import Metrics
from hostns.offline.auditlog import batch_head

logger = logging.getLogger("hostns")

PATH: Final = "/audit"
READ_TIMEOUT: Final = 30.0  # seconds to receive a whole body
RETRY_AFTER: Final = "1"


def server_context(config: AuditWebhookConfig) -> ssl.SSLContext:
    """The TLS context: TLS >= 1.2, our certificate, the client CA when configured."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(config.cert), str(config.key))
        if config.client_ca is not None:
            context.load_verify_locations(cafile=str(config.client_ca))
            # Optional at the TLS layer, so that a caller without a certificate gets a
            # counted 401 rather than a handshake error; required by `_authenticated`.
            context.verify_mode = ssl.CERT_OPTIONAL
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"audit webhook TLS files: {exc}") from None
    return context


def read_token(config: AuditWebhookConfig) -> bytes | None:
    if config.token_file is None:
        return None
    try:
        token = config.token_file.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"audit webhook token file: {exc.strerror or exc}") from None
    if not token:
        raise ConfigError(f"audit webhook token file {config.token_file} is empty")
    return token


class AuditWebhook:
    def __init__(
        self,
        config: AuditWebhookConfig,
        room: Attribution,
        metrics: Metrics,
        standby: Callable[[], bool] = lambda: False,
    ) -> None:
        self._config = config
        self._room = room
        self._metrics = metrics
        self._standby = standby
        self._context = server_context(config)
        self._token = read_token(config)
        self._runner: web.AppRunner | None = None
        self.port = config.port

    async def start(self) -> None:
        app = web.Application(client_max_size=self._config.max_body)
        app.router.add_post(PATH, self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._config.host, self._config.port,
                           ssl_context=self._context)
        await site.start()
        logger.info("audit webhook listening on https://%s:%d%s",
                    self._config.host, self._config.port, PATH)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _authenticated(self, request: web.Request) -> bool:
        if self._config.client_ca is not None:
            transport = request.transport
            # With CERT_OPTIONAL, a presented certificate is verified in the handshake;
            # an empty peercert means none was presented.
            if transport is None or not transport.get_extra_info("peercert"):
                return False
        if self._token is not None:
            header = request.headers.get("Authorization", "")
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self._token
            ):
                return False
        return True

    def _answer(self, outcome: str, status: int, text: str, retry: bool = False) -> web.Response:
        self._metrics.audit_requests.labels(outcome).inc()
        headers = {"Retry-After": RETRY_AFTER} if retry else None
        return web.Response(status=status, text=text + "\n", headers=headers)

    async def handle(self, request: web.Request) -> web.Response:
        if not self._authenticated(request):
            logger.debug("audit webhook: unauthenticated request from %s", request.remote)
            return self._answer("unauthorized", 401, "unauthorized")
        if self._standby():
            return self._answer("standby", 503, "standing by for the leader", retry=True)
        limit = self._config.max_body
        if request.content_length is not None and request.content_length > limit:
            return self._answer("too_large", 413, f"body larger than {limit} bytes")
        if not self._room.has_room(request.content_length or 1):
            # A flood: refused before its body is read, the cheapest answer there is.
            return self._answer("overflow", 429, "too many batches waiting", retry=True)
        try:
            body = await asyncio.wait_for(_read(request, limit), READ_TIMEOUT)
        except TimeoutError:
            return self._answer("malformed", 408, "body not received in time")
        if body is None:
            return self._answer("too_large", 413, f"body larger than {limit} bytes")
        head = batch_head(body)
        if isinstance(head, str):
            logger.warning("audit webhook: malformed batch from %s: %s", request.remote, head)
            return self._answer("malformed", 400, head)
        if not head:
            return self._answer("ignored", 200, "ok")
        if not self._room.offer(body):
            return self._answer("overflow", 429, "too many batches waiting", retry=True)
        return self._answer("accepted", 200, "ok")


async def _read(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it exceeds `limit` (the rest is never held)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)
