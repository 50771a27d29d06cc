"""The audit webhook under a flood: what it takes in, and how long it holds the event loop.

Usage: .venv/bin/python bench/audit_webhook.py [--seconds N] [--senders N] [--batch N] [--rate R]

A server process runs the operator's `AuditWebhook` and attribution room (TLS with a
client certificate, as `hostns run --audit-webhook-port` does) on one asyncio loop,
beside a ticker that wakes every 5 ms and records how late it woke: the delay pod
evaluation, on the same loop, would see. This process floods it over TLS with
`EventList` batches of `--batch` events (the API server's default batch size is 400)
generated as bench/audit_throughput.py generates a busy cluster's log (1% pod or
workload writes), from `--senders` connections at once. Printed: batches and MB per
second by answer (200 accepted or ignored, 429 overflow), actors recorded, and the
ticker's lateness (median, p99, max) during the flood and at rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "operator"))

from tests.pki import CLIENT, SERVING, make_ca, make_signed  # noqa: E402

from bench.audit_throughput import _one  # noqa: E402 - the same generated cluster


def make_pki(pki: Path) -> None:
    for ca in ("ca", "client-ca"):
        make_ca(pki, ca)
    make_signed(pki, "serving", "ca", SERVING)
    make_signed(pki, "client", "client-ca", CLIENT)


def batches(count: int, size: int) -> list[bytes]:
    random.seed(11)
    out, ts, index = [], 1796119200.0, 0
    for _ in range(count):
        items = []
        for _ in range(size):
            ts += 0.0007
            event = _one(index, ts)
            event.pop("kind", None)  # the webhook's items carry no kind of their own
            event.pop("apiVersion", None)
            items.append(event)
            index += 1
        out.append(json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
                               "metadata": {}, "items": items}, separators=(",", ":")).encode())
    return out


async def serve(port: int, pki: Path, seconds: float) -> dict[str, Any]:
    from hostns.core.workloads import Workload
    from hostns.live.attribution import Attribution
    from hostns.live.auditwebhook import AuditWebhook
    from hostns.live.config import AuditWebhookConfig
    from hostns.live.metrics import Metrics

    metrics = Metrics()
    marked: set[Workload] = set()
    room = Attribution(metrics, marked.add, tracked=lambda w: True)
    config = AuditWebhookConfig(port=port, cert=pki / "serving.crt", key=pki / "serving.key",
                                client_ca=pki / "client-ca.crt", host="127.0.0.1")
    webhook = AuditWebhook(config, room, metrics)
    await webhook.start()
    worker = asyncio.create_task(room.run())
    lateness: list[float] = []
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        before = time.monotonic()
        await asyncio.sleep(0.005)
        lateness.append(time.monotonic() - before - 0.005)
    worker.cancel()
    await webhook.stop()
    outcomes = {s.labels["outcome"]: s.value for m in metrics.audit_requests.collect()
                for s in m.samples if s.name.endswith("_total")}
    return {"lateness": lateness, "outcomes": outcomes, "workloads": len(marked),
            "actors": metrics.audit_actors._value.get()}


async def flood(port: int, pki: Path, bodies: list[bytes], senders: int,
                seconds: float, rate: float) -> dict[str, Any]:
    import aiohttp

    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    statuses: dict[int, int] = {}
    sent = 0
    deadline = time.monotonic() + seconds
    start = time.monotonic()
    issued = 0

    async def sender(offset: int) -> None:
        nonlocal sent, issued
        async with aiohttp.ClientSession() as session:
            index = offset
            while time.monotonic() < deadline:
                if rate:  # paced: batch n leaves at n/rate seconds
                    issued += 1
                    await asyncio.sleep(max(0.0, start + issued / rate - time.monotonic()))
                body = bodies[index % len(bodies)]
                index += senders
                async with session.post(f"https://127.0.0.1:{port}/audit", data=body,
                                        ssl=context) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    sent += len(body)

    started = time.monotonic()
    await asyncio.gather(*(sender(i) for i in range(senders)))
    return {"statuses": statuses, "bytes": sent, "seconds": time.monotonic() - started}


def _quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[int(len(ordered) * 0.99)]
    return (f"median {statistics.median(ordered) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, "
            f"max {ordered[-1] * 1000:.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--batch", type=int, default=400)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="batches per second in all (0: as fast as answered); one API "
                        "server's batch backend sends at most 10/s by default")
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "PKI", "SECONDS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        port, pki, seconds = int(args.serve[0]), Path(args.serve[1]), float(args.serve[2])
        result = asyncio.run(serve(port, pki, seconds))
        print(json.dumps(result), flush=True)
        return 0

    from tests.e2e.harness import free_port

    with tempfile.TemporaryDirectory(prefix="webhook-bench-") as tmp:
        pki = Path(tmp)
        make_pki(pki)
        bodies = batches(50, args.batch)
        size = sum(map(len, bodies)) / len(bodies)
        rest = 3.0
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), str(pki),
             str(args.seconds + 2 * rest)],
            stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready"
        time.sleep(rest)  # the ticker at rest first
        sent = asyncio.run(flood(port, pki, bodies, args.senders, args.seconds, args.rate))
        result = json.loads(server.stdout.read().strip().splitlines()[-1])
        server.wait()
    ticks = result["lateness"]
    per_second = len(ticks) / (args.seconds + 2 * rest)
    at_rest = ticks[: int(rest * per_second * 0.9)]
    during = ticks[int(rest * per_second * 1.1): int((rest + args.seconds) * per_second * 0.95)]
    total = sum(sent["statuses"].values())
    pace = f"paced at {args.rate:g}/s" if args.rate else "unpaced"
    print(f"batches of {args.batch} events, {size / 1024:.0f} KiB each, {args.senders} senders "
          f"{pace}, {sent['seconds']:.1f} s")
    print(f"posted: {total / sent['seconds']:.0f} batches/s, "
          f"{sent['bytes'] / sent['seconds'] / 1e6:.1f} MB/s, "
          f"{total * args.batch / sent['seconds']:.0f} events/s; answers {sent['statuses']}")
    print(f"server outcomes {result['outcomes']}; actors recorded {result['actors']:.0f} "
          f"for {result['workloads']} workloads")
    print(f"event-loop lateness at rest:     {_quantiles(at_rest)}")
    print(f"event-loop lateness under flood: {_quantiles(during)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
