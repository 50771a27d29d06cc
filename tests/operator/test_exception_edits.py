"""An exception edited to a spec the operator cannot compile stops trusting at once."""

from __future__ import annotations

from typing import Any

from hostns.live.controller import Controller

from .conftest import EXCEPTIONS, Cluster
from .test_operator import DEBUG_IMAGE, eventually, exception, finding, pod


async def test_an_exception_edited_to_an_out_of_range_expiry_is_invalid_and_trusts_nothing(
    cluster: Cluster, operator: Controller
) -> None:
    # 9999-12-31T23:00:00-05:00 is valid RFC 3339, but in year 10000 once in UTC.
    await cluster.create_exception(exception("debug-tools", [DEBUG_IMAGE]))
    await cluster.create_pod(pod("debugger", images=(DEBUG_IMAGE,), hostPID=True))
    await finding(cluster, "default", "pod-debugger", "Excepted")

    await cluster.request(
        "PATCH", f"{EXCEPTIONS}/debug-tools",
        {"metadata": {"generation": 2}, "spec": {"expiresAt": "9999-12-31T23:00:00-05:00"}},
    )
    await finding(cluster, "default", "pod-debugger", "Violation")

    async def invalid() -> dict[str, Any] | None:
        status = (await cluster.get_exception("debug-tools")).get("status") or {}
        conditions = status.get("conditions") or [{}]
        return status if conditions[0].get("reason") == "Invalid" else None

    status = await eventually(invalid)
    assert status["conditions"][0]["status"] == "False"
    assert "outside" in status["conditions"][0]["message"]
