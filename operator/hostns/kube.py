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
LIST_PAGE: Final = 500


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def _api_error(exc: ApiException) -> ApiError:
    message = exc.reason or ""
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        message = json.loads(exc.body or b"").get("message", message)
    return ApiError(int(exc.status or 0), str(message))


class Kube:
    """Typed access to the few endpoints the operator uses."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self.writes = 0  # every write request sent, for tests and metrics

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
            raise _api_error(exc) from None

    async def _write(self, method: Any, *args: Any, **kwargs: Any) -> Any:
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
            kwargs: dict[str, Any] = {"limit": LIST_PAGE, "_preload_content": False}
            if token:
                kwargs["_continue"] = token
            if namespace is None:
                response = await self._call(self._core.list_pod_for_all_namespaces, **kwargs)
            else:
                response = await self._call(self._core.list_namespaced_pod, namespace, **kwargs)
            page = json.loads(await response.read())
            yield list(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    # --- events -----------------------------------------------------------------

    async def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        await self._write(self._core.create_namespaced_event, namespace, body)
