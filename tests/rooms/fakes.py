"""A fake of hostns.live.kube.Kube for the live shell's rooms: findings, exceptions, pods, Events.

It holds objects in dictionaries, records every call, and can be told to fail the
next calls of one method with a given HTTP status (typed as the real client types it).
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

from hostns.live.kube import api_error
from hostns.live.wire import PodPage, decode_page


class FakeKube:
    def __init__(self) -> None:
        self.findings: dict[tuple[str, str], dict[str, Any]] = {}
        self.exceptions: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.failures: dict[str, list[int]] = defaultdict(list)
        self.fenced = False
        self.writes = 0
        # Pods: listing pages (lists of bodies) and watch streams (lists of lines).
        self.pod_pages: list[Any] = []  # a list of bodies, or an Event: wait for it
        self.list_version = "100"
        self.watches: list[list[Any]] = []  # an int: raise that status; an Event: wait for it
        self.watch_versions: list[str] = []
        self.watch_opened = asyncio.Event()
        self.selected_lists: list[tuple[str, str | None]] = []  # (field selector, version)
        self.pod_writes = 0  # stays 0: there is no pod write method at all
        self.params: dict[str, dict[str, Any]] = {}  # --prevention's parameter object
        # --reports openreports: Reports by (namespace, name); versions as the server counts.
        self.reports: dict[tuple[str, str], dict[str, Any]] = {}
        self.report_versions = 0

    def fail(self, method: str, *statuses: int) -> None:
        self.failures[method].extend(statuses)

    def _enter(self, method: str) -> None:
        self.calls.append(method)
        if self.failures[method]:
            status = self.failures[method].pop(0)
            raise api_error(status, f"{method} failed")

    # --- findings ---
    async def list_findings(self, namespace: str | None) -> list[dict[str, Any]]:
        self._enter("list_findings")
        return [copy.deepcopy(b) for (ns, _), b in self.findings.items()
                if namespace is None or ns == namespace]

    async def get_finding(self, namespace: str, name: str) -> dict[str, Any]:
        self._enter("get_finding")
        if (namespace, name) not in self.findings:
            raise api_error(404, "not found")
        return copy.deepcopy(self.findings[namespace, name])

    async def create_finding(self, body: dict[str, Any]) -> dict[str, Any]:
        self._enter("create_finding")
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if key in self.findings:
            raise api_error(409, "already exists")
        stored = copy.deepcopy(body)
        stored["metadata"]["uid"] = f"uid-{key[1]}"
        stored.pop("status", None)  # the status subresource: ignored on create
        self.findings[key] = stored
        return copy.deepcopy(stored)

    async def patch_finding(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self._enter("patch_finding")
        if (namespace, name) not in self.findings:
            raise api_error(404, "not found")
        labels = self.findings[namespace, name]["metadata"].setdefault("labels", {})
        labels.update(patch["metadata"]["labels"])

    async def patch_finding_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self._enter("patch_finding_status")
        if (namespace, name) not in self.findings:
            raise api_error(404, "not found")
        merged = {**self.findings[namespace, name].get("status", {}), **status}
        self.findings[namespace, name]["status"] = {k: v for k, v in merged.items() if v is not None}

    async def delete_finding(self, namespace: str, name: str) -> None:
        self._enter("delete_finding")
        if self.findings.pop((namespace, name), None) is None:
            raise api_error(404, "not found")

    # --- exceptions ---
    async def list_exceptions(self) -> list[dict[str, Any]]:
        self._enter("list_exceptions")
        return [copy.deepcopy(b) for b in self.exceptions.values()]

    async def patch_exception_status(self, name: str, status: dict[str, Any]) -> None:
        self._enter("patch_exception_status")
        self.exceptions.setdefault(name, {"metadata": {"name": name}})["status"] = copy.deepcopy(status)

    # --- events ---
    async def get_admission_params(self, name: str) -> dict[str, Any] | None:
        self._enter("get_admission_params")
        return self.params.get(name)

    async def create_admission_params(self, body: dict[str, Any]) -> dict[str, Any]:
        self._enter("create_admission_params")
        self.writes += 1
        self.params[body["metadata"]["name"]] = {**body, "metadata": {**body["metadata"],
                                                                      "resourceVersion": "1"}}
        return self.params[body["metadata"]["name"]]

    async def replace_admission_params(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self._enter("replace_admission_params")
        self.writes += 1
        self.params[name] = body
        return body

    # --- OpenReports Reports ---
    def _stored_report(self, body: dict[str, Any]) -> dict[str, Any]:
        self.report_versions += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.report_versions)
        self.reports[stored["metadata"]["namespace"], stored["metadata"]["name"]] = stored
        return copy.deepcopy(stored)

    async def list_reports(self, namespace: str | None) -> list[dict[str, Any]]:
        self._enter("list_reports")
        return [copy.deepcopy(b) for (ns, _), b in self.reports.items()
                if (namespace is None or ns == namespace)
                and b["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by")
                == "hostns-operator"]

    async def get_report(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._enter("get_report")
        body = self.reports.get((namespace, name))
        return copy.deepcopy(body) if body is not None else None

    async def create_report(self, body: dict[str, Any]) -> dict[str, Any]:
        self._enter("create_report")
        if (body["metadata"]["namespace"], body["metadata"]["name"]) in self.reports:
            raise api_error(409, "already exists")
        return self._stored_report(body)

    async def replace_report(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self._enter("replace_report")
        stored = self.reports.get((namespace, name))
        if stored is None:
            raise api_error(404, "not found")
        if body["metadata"].get("resourceVersion") != stored["metadata"]["resourceVersion"]:
            raise api_error(409, "the object has been modified")
        return self._stored_report(body)

    async def delete_report(self, namespace: str, name: str) -> None:
        self._enter("delete_report")
        if self.reports.pop((namespace, name), None) is None:
            raise api_error(404, "not found")

    async def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        self._enter("create_event")
        self.events.append(body)

    # --- pods ---
    async def list_pod_pages(
        self, namespace: str | None, *, field_selector: str | None = None,
        resource_version: str | None = None,
    ) -> AsyncIterator[PodPage]:
        # The API server answers a LIST with one page at least (empty when there is no pod).
        listing = self.pod_pages if self.pod_pages else [[]]
        if field_selector is not None:
            # The same snapshot, filtered (`spec.hostNetwork=true` only), in one page and
            # at once: the gates hold back the unfiltered listing's pages only.
            self._enter("list_pod_page_selected")
            self.selected_lists.append((field_selector, resource_version))
            assert field_selector == "spec.hostNetwork=true", field_selector
            items = [pod for page in listing if not isinstance(page, asyncio.Event)
                     for pod in page if pod.get("spec", {}).get("hostNetwork") is True]
            raw = json.dumps({"kind": "PodList", "items": items, "metadata": {
                "resourceVersion": self.list_version, "continue": ""}})
            yield decode_page(raw.encode())
            return
        pages = [p for p in listing if not isinstance(p, asyncio.Event)]
        index = -1
        for items in listing:
            if isinstance(items, asyncio.Event):
                await items.wait()  # a gate before the next page, that the test opens
                continue
            index += 1
            self._enter("list_pod_page")
            last = index == len(pages) - 1
            raw = json.dumps({"kind": "PodList", "items": items, "metadata": {
                "resourceVersion": self.list_version, "continue": "" if last else f"p{index + 1}"}})
            yield decode_page(raw.encode())

    async def watch_request(self, namespace: str | None, resource_version: str) -> None:
        return None  # no socket to read: the pod watch reads `watch_pods` (aiohttp's path)

    async def watch_pods(self, namespace: str | None, resource_version: str) -> AsyncIterator[bytes]:
        self._enter("watch_pods")
        self.watch_versions.append(resource_version)
        self.watch_opened.set()
        if not self.watches:
            await asyncio.Event().wait()  # a watch that stays open and quiet
        for line in self.watches.pop(0):
            if isinstance(line, asyncio.Event):
                await line.wait()  # a gate the test opens
                continue
            if isinstance(line, int):
                raise api_error(line, "watch failed")
            yield json.dumps(line).encode()


def pod_body(name: str, *, uid: str | None = None, namespace: str = "apps", rv: str = "1",
             image: str = "nginx:1.25", **flags: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid or f"uid-{name}",
                     "resourceVersion": rv},
        "spec": {**flags, "containers": [{"name": "c", "image": image}]},
    }


async def until(check: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait, in 10 ms steps, until `check()` is true; fail after `timeout` seconds."""
    for _ in range(int(timeout / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not in time")
