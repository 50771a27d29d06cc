"""Defensive reading of Kubernetes object bodies: strange shapes read as empty."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_EMPTY: Mapping[str, Any] = {}


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one (never raises)."""
    return value if isinstance(value, Mapping) else _EMPTY


def field(body: Any, key: str) -> Mapping[str, Any]:
    """The mapping at `body[key]`, or an empty one when absent or not a mapping."""
    return mapping(mapping(body).get(key))
