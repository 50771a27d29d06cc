"""The operator's own Kubernetes API calls (kopf does the watching).

A thin async wrapper over kubernetes_asyncio: it never blocks kopf's event
loop, reads JSON as plain dicts (no model objects: a pod list page is parsed
once and dropped), and reports failures as `ApiError` with the HTTP status.
It has no call that writes to a pod, by construction.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any, Final

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from hostns.findings import GROUP, MANAGED_BY, MANAGED_BY_LABEL, PLURAL, VERSION

EXCEPTIONS_PLURAL: Final = "hostnamespaceexceptions"
MERGE_PATCH: Final = "application/merge-patch+json"
LIST_PAGE: Final = 100  # ~8 MB of Python objects per page of real pods (bench/README.md)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def _api_error(status: int | None, reason: str | None, body: bytes | str | None) -> ApiError:
    """An ApiError carrying the API server's own message (from its Status body)."""
    message = reason or ""
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        message = json.loads(body or b"").get("message", message)
    return ApiError(int(status or 0), str(message))


class Kube:
    """Typed access to the few endpoints the operator uses."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self._coordination = client.CoordinationV1Api(api_client)
        self.writes = 0  # every write request sent, for tests and metrics
        self.fenced = False  # set when leadership is lost: no more writes

    @classmethod
    async def connect(cls, server: str | None = None) -> Kube:
        """In-cluster credentials, else the kubeconfig; `server` forces a plain URL (tests)."""
        configuration = client.Configuration()
        if server is not None:
            configuration.host = server
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            await config.load_kube_config(client_configuration=configuration)
        return cls(client.ApiClient(configuration))

    async def close(self) -> None:
        await self.api_client.close()

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except ApiException as exc:
            raise _api_error(exc.status, exc.reason, exc.body) from None

    def fence(self) -> None:
        """Refuse every further write (findings, statuses, Events): another replica leads."""
        self.fenced = True

    async def _json(self, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The response as plain JSON (no model objects). Without preloading, the
        client does not check the status itself: an error (403, 410, 429, 500) must
        never be read as an empty answer, so it is raised here as ApiError."""
        response = await self._call(method, *args, _preload_content=False, **kwargs)
        raw = await response.read()
        if not 200 <= response.status <= 299:
            raise _api_error(response.status, response.reason, raw)
        body: dict[str, Any] = json.loads(raw)
        return body

    async def _write(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        if self.fenced:
            raise ApiError(0, "write dropped: this replica is no longer the leader")
        self.writes += 1
        return await self._call(method, *args, **kwargs)

    # --- findings ---------------------------------------------------------------

    async def list_findings(self, namespace: str | None) -> list[dict[str, Any]]:
        selector = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        if namespace is None:
            result = await self._call(
                self._custom.list_cluster_custom_object, GROUP, VERSION, PLURAL,
                label_selector=selector,
            )
        else:
            result = await self._call(
                self._custom.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL,
                label_selector=selector,
            )
        return list(result.get("items", []))

    async def get_finding(self, namespace: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            self._custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name
        )
        return result

    async def create_finding(self, body: dict[str, Any]) -> dict[str, Any]:
        namespace = body["metadata"]["namespace"]
        result: dict[str, Any] = await self._write(
            self._custom.create_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, body
        )
        return result

    async def patch_finding(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        await self._write(
            self._custom.patch_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name,
            patch, _content_type=MERGE_PATCH,
        )

    async def patch_finding_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self._write(
            self._custom.patch_namespaced_custom_object_status, GROUP, VERSION, namespace, PLURAL,
            name, {"status": status}, _content_type=MERGE_PATCH,
        )

    async def delete_finding(self, namespace: str, name: str) -> None:
        await self._write(
            self._custom.delete_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name
        )

    # --- exceptions -------------------------------------------------------------

    async def list_exceptions(self) -> list[dict[str, Any]]:
        result = await self._call(
            self._custom.list_cluster_custom_object, GROUP, VERSION, EXCEPTIONS_PLURAL
        )
        return list(result.get("items", []))

    async def patch_exception_status(self, name: str, status: dict[str, Any]) -> None:
        await self._write(
            self._custom.patch_cluster_custom_object_status, GROUP, VERSION, EXCEPTIONS_PLURAL,
            name, {"status": status}, _content_type=MERGE_PATCH,
        )

    # --- pods (read-only) -------------------------------------------------------

    async def list_pod_pages(self, namespace: str | None) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of pods as plain dicts, LIST_PAGE at a time (bounded memory)."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": LIST_PAGE}
            if token:
                kwargs["_continue"] = token
            if namespace is None:
                page = await self._json(self._core.list_pod_for_all_namespaces, **kwargs)
            else:
                page = await self._json(self._core.list_namespaced_pod, namespace, **kwargs)
            yield list(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    # --- leases (leader election) ---------------------------------------------

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self._json(self._coordination.read_namespaced_lease, name, namespace)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self.writes += 1
        return await self._json(self._coordination.create_namespaced_lease, namespace, body)

    async def replace_lease(
        self, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        self.writes += 1
        return await self._json(
            self._coordination.replace_namespaced_lease, name, namespace, body
        )

    # --- events -----------------------------------------------------------------

    async def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        await self._write(self._core.create_namespaced_event, namespace, body)
