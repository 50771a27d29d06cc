"""The audit webhook over real TLS: who may post, what is read, and what is refused."""

from __future__ import annotations

import argparse
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hostns.live.attribution import Attribution
from hostns.live.auditwebhook import PATH, AuditWebhook, server_context
from hostns.live.config import AuditWebhookConfig, ConfigError, add_run_arguments, config_from_args
from hostns.live.metrics import Metrics
from tests.e2e.harness import free_port
from tests.pki import CLIENT, SERVING, make_ca, make_signed

from .test_attribution import batch, pod_write


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pki = tmp_path_factory.mktemp("webhook-pki")
    for ca in ("serving-ca", "client-ca", "other-ca"):
        make_ca(pki, ca)
    make_signed(pki, "serving", "serving-ca", SERVING)
    make_signed(pki, "apiserver", "client-ca", CLIENT)
    make_signed(pki, "stranger", "other-ca", CLIENT)
    (pki / "token").write_text("s3cret-token\n")
    return pki


class Served:
    def __init__(self, pki: Path, webhook: AuditWebhook, room: Attribution,
                 metrics: Metrics) -> None:
        self.pki, self.webhook, self.room, self.metrics = pki, webhook, room, metrics
        self.url = f"https://127.0.0.1:{webhook.port}{PATH}"
        self.standby = False

    def client_context(self, cert: str | None = "apiserver") -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki / "serving-ca.crt"))
        if cert is not None:
            context.load_cert_chain(str(self.pki / f"{cert}.crt"), str(self.pki / f"{cert}.key"))
        return context

    async def post(self, body: bytes, cert: str | None = "apiserver",
                   token: str | None = None, **kwargs: Any) -> tuple[int, dict[str, str]]:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with aiohttp.ClientSession() as session, session.post(
            self.url, data=body, headers=headers, ssl=self.client_context(cert), **kwargs
        ) as response:
            return response.status, dict(response.headers)

    def count(self, outcome: str) -> float:
        return float(self.metrics.audit_requests.labels(outcome)._value.get())


async def _serve(pki: Path, **settings: Any) -> AsyncIterator[Served]:
    metrics = Metrics()
    room = Attribution(metrics, lambda w: None, lambda w: True,
                       queue_bytes=settings.pop("queue_bytes", 1 << 20))
    config = AuditWebhookConfig(port=free_port(), cert=pki / "serving.crt",
                                key=pki / "serving.key", host="127.0.0.1", **settings)
    holder: list[Served] = []
    webhook = AuditWebhook(config, room, metrics, standby=lambda: holder[0].standby)
    served = Served(pki, webhook, room, metrics)
    holder.append(served)
    await webhook.start()
    try:
        yield served
    finally:
        await webhook.stop()


@pytest.fixture
async def by_cert(pki: Path) -> AsyncIterator[Served]:
    async for served in _serve(pki, client_ca=pki / "client-ca.crt", max_body=64 << 10):
        yield served


@pytest.fixture
async def by_token(pki: Path) -> AsyncIterator[Served]:
    async for served in _serve(pki, token_file=pki / "token"):
        yield served


WRITE = batch(pod_write("agent", hostNetwork=True))
READS = batch({**pod_write("agent"), "verb": "get"})


async def test_the_api_servers_certificate_is_accepted_and_a_write_queued(by_cert: Served) -> None:
    assert (await by_cert.post(WRITE))[0] == 200
    assert by_cert.room.queued_bytes == len(WRITE) and by_cert.count("accepted") == 1


async def test_a_batch_without_pod_writes_is_answered_and_not_queued(by_cert: Served) -> None:
    assert (await by_cert.post(READS))[0] == 200
    assert by_cert.room.queued_bytes == 0 and by_cert.count("ignored") == 1


async def test_no_client_certificate_is_401_before_the_body_is_read(by_cert: Served) -> None:
    # Larger than the bound: a 413 would mean the body was looked at first.
    status, _ = await by_cert.post(b"{" * (1 << 20), cert=None)
    assert status == 401 and by_cert.count("unauthorized") == 1
    assert by_cert.room.queued_bytes == 0 and by_cert.count("too_large") == 0


async def test_a_certificate_of_another_ca_fails_the_handshake(by_cert: Served) -> None:
    with pytest.raises(aiohttp.ClientError):
        await by_cert.post(WRITE, cert="stranger")
    assert by_cert.room.queued_bytes == 0


async def test_a_body_over_the_bound_is_413_with_or_without_a_length(by_cert: Served) -> None:
    big = batch(*[pod_write(f"p{i}", hostNetwork=True) for i in range(200)])
    assert len(big) > 64 << 10
    assert (await by_cert.post(big))[0] == 413

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 4096):
            yield big[start:start + 4096]

    assert (await by_cert.post(chunks()))[0] == 413  # type: ignore[arg-type]
    assert by_cert.count("too_large") == 2 and by_cert.room.queued_bytes == 0


@pytest.mark.parametrize("body", [
    pytest.param(b"{not json", id="not JSON"),
    pytest.param(json.dumps({"kind": "Pod"}).encode(), id="not an EventList"),
    pytest.param(json.dumps({"kind": "EventList", "items": "x"}).encode(), id="bad items"),
])
async def test_a_malformed_batch_is_400_and_counted(by_cert: Served, body: bytes) -> None:
    assert (await by_cert.post(body))[0] == 400
    assert by_cert.count("malformed") == 1 and by_cert.room.queued_bytes == 0


async def test_a_full_queue_answers_429_with_retry_after(pki: Path) -> None:
    async for served in _serve(pki, client_ca=pki / "client-ca.crt",
                               queue_bytes=len(WRITE) + 10):
        assert (await served.post(WRITE))[0] == 200
        status, headers = await served.post(WRITE)
        assert status == 429 and headers["Retry-After"] == "1"
        assert served.count("overflow") == 1 and served.room.queued_bytes == len(WRITE)


async def test_a_standby_answers_503_so_the_batch_is_retried(by_cert: Served) -> None:
    by_cert.standby = True
    status, headers = await by_cert.post(WRITE)
    assert status == 503 and headers["Retry-After"] == "1"
    assert by_cert.room.queued_bytes == 0


@pytest.mark.parametrize(("token", "status"), [
    ("s3cret-token", 200), ("s3cret-tokeN", 401), ("", 401), (None, 401),
])
async def test_the_bearer_token_must_match(by_token: Served, token: str | None,
                                           status: int) -> None:
    assert (await by_token.post(WRITE, cert=None, token=token))[0] == status


async def test_with_both_configured_both_are_required(pki: Path) -> None:
    async for served in _serve(pki, client_ca=pki / "client-ca.crt", token_file=pki / "token"):
        assert (await served.post(WRITE, token="s3cret-token", cert=None))[0] == 401
        assert (await served.post(WRITE))[0] == 401
        assert (await served.post(WRITE, token="s3cret-token"))[0] == 200


def test_tls_below_1_2_is_not_offered(pki: Path) -> None:
    context = server_context(AuditWebhookConfig(
        port=1, cert=pki / "serving.crt", key=pki / "serving.key", token_file=pki / "token"))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def _config(*argv: str) -> Any:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return config_from_args(parser.parse_args(list(argv)), {})


@pytest.mark.parametrize(("argv", "problem"), [
    (["--audit-webhook-port", "8443"], "needs --audit-webhook-cert"),
    (["--audit-webhook-port", "8443", "--audit-webhook-cert", "c", "--audit-webhook-key", "k"],
     "the caller must be authenticated"),
    (["--audit-webhook-port", "70000"], "invalid audit webhook port"),
    (["--audit-webhook-port", "8443", "--audit-webhook-cert", "c", "--audit-webhook-key", "k",
      "--audit-webhook-token-file", "t", "--audit-webhook-max-body", "lots"], "invalid size"),
])
def test_the_webhook_fails_closed_on_incomplete_settings(argv: list[str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        _config(*argv)


def test_the_webhook_is_off_by_default_and_sizes_read_with_units() -> None:
    assert _config().audit_webhook is None
    config = _config("--audit-webhook-port", "8443", "--audit-webhook-cert", "c",
                     "--audit-webhook-key", "k", "--audit-webhook-client-ca", "ca",
                     "--audit-webhook-max-body", "512Ki").audit_webhook
    assert config.port == 8443 and config.max_body == 512 << 10


def test_unreadable_files_are_a_one_line_config_error(pki: Path) -> None:
    with pytest.raises(ConfigError, match="TLS files"):
        server_context(AuditWebhookConfig(port=1, cert=pki / "missing.crt",
                                          key=pki / "serving.key", token_file=pki / "token"))
