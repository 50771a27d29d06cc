"""Create or delete the bench's pods fast: many concurrent HTTP requests to the API server.

kubectl creates ~40 pods/s here; 50,000 pods need a client that keeps many requests in
flight. This one uses aiohttp with the control plane's admin client certificate.

Usage (a subprocess of the benchmarks; one JSON line of progress per second on stdout):
  fastkube.py SERVER PKI create START END [--namespace NS --prefix P --host-network]
  fastkube.py SERVER PKI delete NAMESPACE... [--seconds S]
  fastkube.py SERVER PKI label NAMESPACE... [--seconds S]   (changes each pod's label `burst`)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

CONCURRENCY = 48
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


def admin_session(pki: Path, concurrency: int) -> Any:
    import aiohttp

    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(pki / "admin.crt", pki / "admin.key")
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=concurrency))


async def _run(jobs: Iterable[Callable[[], Awaitable[int]]], concurrency: int,
               seconds: float | None = None) -> None:
    """Run the jobs `concurrency` at a time (retrying 429/5xx); report progress per second.
    With `seconds`, no job starts after that long: the rest are left undone."""
    queue: asyncio.Queue[Callable[[], Awaitable[int]]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    total, done, failed = queue.qsize(), [0], [0]
    began = time.monotonic()
    print(json.dumps({"started": total}), flush=True)  # the requests begin now

    async def worker() -> None:
        while not queue.empty():
            if seconds is not None and time.monotonic() - began > seconds:
                return
            job = queue.get_nowait()
            for attempt in range(20):
                status = await job()
                if status < 300 or status in (404, 409):
                    break
                if status != 429 and status < 500:
                    failed[0] += 1
                    break
                await asyncio.sleep(0.05 * (attempt + 1))
            done[0] += 1

    async def report() -> None:
        while True:
            await asyncio.sleep(1)
            print(json.dumps({"done": done[0], "seconds": round(time.monotonic() - began, 2)}),
                  flush=True)

    reporter = asyncio.create_task(report())
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    reporter.cancel()
    print(json.dumps({"done": done[0], "total": total, "failed": failed[0], "final": True,
                      "seconds": round(time.monotonic() - began, 2)}), flush=True)


async def create(server: str, pki: Path, bodies: list[dict[str, Any]], concurrency: int) -> None:
    async with admin_session(pki, concurrency) as session:
        def job(body: dict[str, Any]) -> Callable[[], Awaitable[int]]:
            url = f"{server}/api/v1/namespaces/{body['metadata']['namespace']}/pods"
            data = json.dumps(body).encode()

            async def call() -> int:
                async with session.post(url, data=data, headers={
                        "Content-Type": "application/json"}) as response:
                    await response.read()
                    return int(response.status)
            return call

        await _run([job(b) for b in bodies], concurrency)


async def each_pod(
    server: str, pki: Path, namespaces: list[str], concurrency: int, action: str,
    seconds: float | None = None,
) -> None:
    """Every pod of the namespaces: deleted (grace 0), or its label `burst` changed
    (a merge patch: one MODIFIED event each, the pod spec and its findings unchanged)."""
    async with admin_session(pki, concurrency) as session:
        names: list[tuple[str, str]] = []
        for namespace in namespaces:
            token = ""
            while True:
                url = f"{server}/api/v1/namespaces/{namespace}/pods?limit=5000&continue={token}"
                # Names only: the metadata-only form of the list (a pod is ~12 KB in full).
                async with session.get(url, headers={"Accept": METADATA_ONLY}) as response:
                    page = json.loads(await response.read())
                names += [(namespace, i["metadata"]["name"]) for i in page["items"]]
                token = page["metadata"].get("continue") or ""
                if not token:
                    break
        if action == "delete":
            method, content_type = "DELETE", "application/json"
            data = json.dumps({"kind": "DeleteOptions", "apiVersion": "v1",
                               "gracePeriodSeconds": 0}).encode()
        else:
            method, content_type = "PATCH", "application/merge-patch+json"
            data = json.dumps({"metadata": {"labels": {"burst": str(time.time_ns())}}}).encode()

        def job(namespace: str, name: str) -> Callable[[], Awaitable[int]]:
            url = f"{server}/api/v1/namespaces/{namespace}/pods/{name}"

            async def call() -> int:
                async with session.request(method, url, data=data, headers={
                        "Content-Type": content_type}) as response:
                    await response.read()
                    return int(response.status)
            return call

        # Interleave the namespaces, so that the requests are spread like the pods.
        names.sort(key=lambda item: int(item[1].rsplit("-", 1)[1]))
        await _run([job(ns, n) for ns, n in names], concurrency, seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("server")
    parser.add_argument("pki", type=Path)
    parser.add_argument("action", choices=("create", "delete", "label"))
    parser.add_argument("args", nargs="+")
    parser.add_argument("--namespace")
    parser.add_argument("--prefix", default="pod")
    parser.add_argument("--host-network", action="store_true")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--seconds", type=float, help="delete/label: start no request after")
    options = parser.parse_args()
    if options.action == "create":
        from live_stream import pod

        start, end = int(options.args[0]), int(options.args[1])
        bodies = [pod(i, namespace=options.namespace, prefix=options.prefix)
                  for i in range(start, end)]
        if options.host_network:
            for body in bodies:
                body["spec"]["hostNetwork"] = True
        asyncio.run(create(options.server, options.pki, bodies, options.concurrency))
    else:
        asyncio.run(each_pod(options.server, options.pki, options.args, options.concurrency,
                             options.action, options.seconds))


if __name__ == "__main__":
    main()
