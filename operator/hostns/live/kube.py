"""The operator's own Kubernetes API calls, pods' LIST and WATCH included.

A thin async wrapper over kubernetes_asyncio: it never blocks the event loop,
reads JSON as plain dicts (no model objects), hands pod pages and watch lines
over as raw bytes (hostns.live.wire decodes only what is needed), and reports failures
as typed errors (`NotFound`, `Conflict`, `Gone`, else `ApiError`) with the HTTP
status. It has no call that writes to a pod, by construction.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from hostns.core.api import (
    EXCEPTIONS_PLURAL,
    FINDINGS_PLURAL,
    GROUP,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    PARAMS_PLURAL,
    REPORTS_GROUP,
    REPORTS_PLURAL,
    REPORTS_VERSION,
    VERSION,
)
from hostns.live.wire import LineSplitter, PodPage, decode_page

PLURAL: Final = FINDINGS_PLURAL
MERGE_PATCH: Final = "application/merge-patch+json"
# Pods per LIST page. Pages are kept as raw bytes and only host-namespace pods are
# decoded into Python objects, so a page of 500 ~10 KB pods costs ~5 MB while read.
LIST_PAGE: Final = 500
WATCH_SECONDS: Final = 300  # the server ends a watch after this; we resume from its rv

__all__ = [
    "EXCEPTIONS_PLURAL", "LIST_PAGE", "ApiError", "Conflict", "Gone", "Kube", "NotFound",
    "WatchRequest",
]


class ApiError(Exception):
    """A failed API request; `status` 0 when no HTTP answer came (a dropped write)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status

    @property
    def transient(self) -> bool:
        """Worth retrying as is: throttled (429) or a server-side failure (5xx)."""
        return self.status == 429 or self.status >= 500


class NotFound(ApiError):
    """404: the object does not exist (any more)."""


class Conflict(ApiError):
    """409: it already exists, or it changed since it was read."""


class Gone(ApiError):
    """410: the resourceVersion or continue token is too old; list again."""


_TYPED: dict[int, type[ApiError]] = {404: NotFound, 409: Conflict, 410: Gone}


def api_error(status: int | None, message: str) -> ApiError:
    code = int(status or 0)
    return _TYPED.get(code, ApiError)(code, message)


def api_error_from_body(
    status: int | None, reason: str | None, body: bytes | str | None
) -> ApiError:
    """The typed error carrying the API server's own message (from its Status body)."""
    message = reason or ""
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        message = json.loads(body or b"").get("message", message)
    return api_error(status, str(message))


@dataclass(frozen=True)
class WatchRequest:
    """One HTTP/1.1 GET of a watch, everything a socket needs to send it."""

    host: str
    port: int
    target: str  # path and query
    headers: dict[str, str]
    tls: ssl.SSLContext | None  # None: plain HTTP (tests)
    server_hostname: str | None = None  # SNI and the name checked, when not the host
    read_timeout: float = WATCH_SECONDS + 30.0
    connect_timeout: float = 30.0

    def head(self) -> bytes:
        host = f"[{self.host}]" if ":" in self.host else self.host
        lines = [f"GET {self.target} HTTP/1.1", f"Host: {host}:{self.port}",
                 "Connection: close", "Accept-Encoding: identity"]
        for name, value in self.headers.items():
            if "\r" in name + value or "\n" in name + value:
                raise ApiError(0, f"refusing a watch header with a line break: {name}")
            if name.lower() not in ("host", "connection", "accept-encoding"):
                lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def __repr__(self) -> str:  # never the token
        return f"WatchRequest({self.host}:{self.port}{self.target.split('?')[0]})"


class Kube:
    """Typed access to the few endpoints the operator uses."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self._coordination = client.CoordinationV1Api(api_client)
        self.writes = 0  # every write request sent, for tests and metrics
        self.fenced = False  # set when leadership is lost: no more writes
        self._tls: ssl.SSLContext | None = None

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
            raise api_error_from_body(exc.status, exc.reason, exc.body) from None

    def fence(self) -> None:
        """Refuse every further write (findings, statuses, Events): another replica leads."""
        self.fenced = True

    async def _raw(self, method: Any, *args: Any, **kwargs: Any) -> bytes:
        """The response body as bytes. Without preloading, the client does not check
        the status itself: an error (403, 410, 429, 500) must never be read as an
        empty answer, so it is raised here as a typed ApiError."""
        response = await self._call(method, *args, _preload_content=False, **kwargs)
        try:
            raw: bytes = await response.read()
        finally:
            response.release()
        if not 200 <= response.status <= 299:
            raise api_error_from_body(response.status, response.reason, raw)
        return raw

    async def _json(self, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The response as plain JSON (no model objects); errors raised as in `_raw`."""
        body: dict[str, Any] = json.loads(await self._raw(method, *args, **kwargs))
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

    # --- the admission policy's parameter object (--prevention) -----------------

    async def get_admission_params(self, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self._call(
                self._custom.get_cluster_custom_object, GROUP, VERSION, PARAMS_PLURAL, name
            )
        except NotFound:
            return None
        return result

    async def create_admission_params(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._write(
            self._custom.create_cluster_custom_object, GROUP, VERSION, PARAMS_PLURAL, body
        )
        return result

    async def replace_admission_params(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._write(
            self._custom.replace_cluster_custom_object, GROUP, VERSION, PARAMS_PLURAL, name, body
        )
        return result

    # --- OpenReports Reports (--reports openreports) ----------------------------

    async def list_reports(self, namespace: str | None) -> list[dict[str, Any]]:
        """The Reports this operator manages (by label), in one namespace or all."""
        selector = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        if namespace is None:
            result = await self._call(
                self._custom.list_cluster_custom_object, REPORTS_GROUP, REPORTS_VERSION,
                REPORTS_PLURAL, label_selector=selector,
            )
        else:
            result = await self._call(
                self._custom.list_namespaced_custom_object, REPORTS_GROUP, REPORTS_VERSION,
                namespace, REPORTS_PLURAL, label_selector=selector,
            )
        return list(result.get("items", []))

    async def get_report(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self._call(
                self._custom.get_namespaced_custom_object, REPORTS_GROUP, REPORTS_VERSION,
                namespace, REPORTS_PLURAL, name,
            )
        except NotFound:
            return None
        return result

    async def create_report(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._write(
            self._custom.create_namespaced_custom_object, REPORTS_GROUP, REPORTS_VERSION,
            body["metadata"]["namespace"], REPORTS_PLURAL, body,
        )
        return result

    async def replace_report(
        self, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Replace it; the body carries the resourceVersion read (Conflict when stale)."""
        result: dict[str, Any] = await self._write(
            self._custom.replace_namespaced_custom_object, REPORTS_GROUP, REPORTS_VERSION,
            namespace, REPORTS_PLURAL, name, body,
        )
        return result

    async def delete_report(self, namespace: str, name: str) -> None:
        await self._write(
            self._custom.delete_namespaced_custom_object, REPORTS_GROUP, REPORTS_VERSION,
            namespace, REPORTS_PLURAL, name,
        )

    # --- pods (read-only) -------------------------------------------------------

    async def list_pod_page(
        self, namespace: str | None, token: str | None = None, limit: int = LIST_PAGE,
        *, field_selector: str | None = None, resource_version: str | None = None,
    ) -> PodPage:
        """One page of pods, its items as raw JSON. An error page raises (never "no pods").

        With `resource_version` (first page only: a continue token carries its own), the
        list is of exactly that snapshot (resourceVersionMatch=Exact)."""
        kwargs: dict[str, Any] = {"limit": limit}
        if token:
            kwargs["_continue"] = token
        elif resource_version:
            kwargs["resource_version"] = resource_version
            kwargs["resource_version_match"] = "Exact"
        if field_selector:
            kwargs["field_selector"] = field_selector
        if namespace is None:
            raw = await self._raw(self._core.list_pod_for_all_namespaces, **kwargs)
        else:
            raw = await self._raw(self._core.list_namespaced_pod, namespace, **kwargs)
        return decode_page(raw)

    async def list_pod_pages(
        self, namespace: str | None, *, field_selector: str | None = None,
        resource_version: str | None = None,
    ) -> AsyncGenerator[PodPage, None]:
        """Every page of one consistent LIST (one snapshot: the last page's resourceVersion)."""
        token: str | None = None
        while True:
            page = await self.list_pod_page(namespace, token, field_selector=field_selector,
                                            resource_version=resource_version)
            yield page
            token = page.continue_token
            if not token:
                return

    async def watch_pods(
        self, namespace: str | None, resource_version: str, timeout: int = WATCH_SECONDS
    ) -> AsyncIterator[bytes]:
        """The raw lines of a pod WATCH from `resource_version`, bookmarks asked for.

        Lines are split here rather than by aiohttp's readline, which refuses lines
        over 128 KB (a pod with large annotations is bigger).
        """
        kwargs: dict[str, Any] = {
            # "true", not True: the client would send "True" (Go reads both; strict
            # emulators only the first).
            "watch": "true", "resource_version": resource_version,
            "allow_watch_bookmarks": "true", "timeout_seconds": timeout,
            "_preload_content": False,
            # No total timeout; a silent connection is dead after the server's own limit.
            "_request_timeout": aiohttp.ClientTimeout(
                total=None, connect=30, sock_read=timeout + 30
            ),
        }
        if namespace is None:
            response = await self._call(self._core.list_pod_for_all_namespaces, **kwargs)
        else:
            response = await self._call(self._core.list_namespaced_pod, namespace, **kwargs)
        try:
            if not 200 <= response.status <= 299:
                raise api_error_from_body(response.status, response.reason, await response.read())
            lines = LineSplitter()
            async for chunk in response.content.iter_any():
                for line in lines.feed(chunk):
                    yield line
            last = lines.rest()
            if last is not None:
                yield last
        finally:
            response.close()

    async def watch_request(
        self, namespace: str | None, resource_version: str, timeout: int = WATCH_SECONDS
    ) -> WatchRequest | None:
        """The pod WATCH that `watch_pods` sends, for hostns.live.watchstream's reader
        thread: same URL and parameters, the same credentials (the bearer token through
        the client's own auth settings and refresh hook, so a rotated token file is read
        again for every watch), a TLS context built from the same configuration as the
        client's. None when a proxy is configured: then the aiohttp transport is used."""
        configuration = self.api_client.configuration
        url = urlsplit(configuration.host)
        if configuration.proxy or url.scheme not in ("http", "https") or not url.hostname:
            return None
        path = url.path.rstrip("/") + (
            "/api/v1/pods" if namespace is None
            else f"/api/v1/namespaces/{quote(namespace, safe='')}/pods"
        )
        query: list[tuple[str, str]] = [
            ("allowWatchBookmarks", "true"), ("resourceVersion", resource_version),
            ("timeoutSeconds", str(timeout)), ("watch", "true"),
        ]
        headers: dict[str, str] = {**self.api_client.default_headers, "Accept": "application/json"}
        await self.api_client.update_params_for_auth(headers, query, ["BearerToken"])
        https = url.scheme == "https"
        return WatchRequest(
            host=url.hostname, port=url.port or (443 if https else 80),
            target=f"{path}?{urlencode(query)}", headers=headers,
            tls=self._tls_context() if https else None,
            server_hostname=configuration.tls_server_name,
            read_timeout=timeout + 30.0,
        )

    def _tls_context(self) -> ssl.SSLContext:
        """TLS as kubernetes_asyncio's REST client sets it up from the configuration
        (CA, client certificate, verification switches), built once."""
        if self._tls is None:
            configuration = self.api_client.configuration
            context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
            if configuration.cert_file:
                context.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
            if not configuration.verify_ssl:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if configuration.disable_strict_ssl_verification:
                context.verify_flags &= ~ssl.VERIFY_X509_STRICT
            self._tls = context
        return self._tls

    # --- leases (leader election) ---------------------------------------------

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self._json(self._coordination.read_namespaced_lease, name, namespace)
        except NotFound:
            return None

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
