"""Kubernetes label selectors (matchLabels + matchExpressions), as pure data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class SelectorError(ValueError):
    """A label selector that cannot be evaluated."""


_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        # NotIn, as in Kubernetes: a pod without the label is selected.
        return self.key not in labels or labels[self.key] not in self.values


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(req.matches(labels) for req in self.requirements)


def parse_selector(raw: Any) -> LabelSelector:
    """Compile a `metav1.LabelSelector`. An empty selector selects everything."""
    if not isinstance(raw, Mapping):
        raise SelectorError("podSelector must be an object")
    requirements: list[Requirement] = []
    match_labels = raw.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError("podSelector.matchLabels must be a map of strings")
    for key, value in match_labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise SelectorError("podSelector.matchLabels must be a map of strings")
        requirements.append(Requirement(key, "In", frozenset({value})))
    expressions = raw.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise SelectorError("podSelector.matchExpressions must be a list")
    for expr in expressions:
        requirements.append(_parse_expression(expr))
    return LabelSelector(tuple(requirements))


def _parse_expression(expr: Any) -> Requirement:
    if not isinstance(expr, Mapping):
        raise SelectorError("podSelector.matchExpressions items must be objects")
    key, operator, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if not isinstance(key, str) or not key:
        raise SelectorError("podSelector.matchExpressions: key is required")
    if operator not in _OPERATORS:
        raise SelectorError(f"podSelector.matchExpressions: unknown operator {operator!r}")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SelectorError("podSelector.matchExpressions: values must be strings")
    if operator in ("In", "NotIn") and not values:
        raise SelectorError(f"podSelector.matchExpressions: {operator} needs values")
    if operator in ("Exists", "DoesNotExist") and values:
        raise SelectorError(f"podSelector.matchExpressions: {operator} takes no values")
    return Requirement(key, operator, frozenset(values))
