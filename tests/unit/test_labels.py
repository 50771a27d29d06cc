"""Label selectors (`spec.podSelector`): Kubernetes semantics, refused when unusable."""

from __future__ import annotations

from typing import Any

import pytest

from hostns.core.labels import SelectorError, parse_selector

NODE_AGENT = {"app": "agent", "tier": "node"}


@pytest.mark.parametrize(
    ("selector", "labels", "selected"),
    [
        pytest.param({}, {}, True, id="empty selector selects every pod"),
        pytest.param({}, NODE_AGENT, True, id="empty selector selects a labelled pod"),
        pytest.param({"matchLabels": {"tier": "node"}}, NODE_AGENT, True, id="matchLabels equal"),
        pytest.param({"matchLabels": {"tier": "web"}}, NODE_AGENT, False, id="matchLabels other value"),
        pytest.param({"matchLabels": {"tier": "node"}}, {}, False, id="matchLabels label absent"),
        pytest.param({"matchLabels": {"tier": "node", "app": "agent"}}, NODE_AGENT, True, id="matchLabels all of several"),
        pytest.param({"matchLabels": {"tier": "node", "app": "x"}}, NODE_AGENT, False, id="matchLabels one of several differs"),
        pytest.param({"matchLabels": None}, NODE_AGENT, True, id="null matchLabels selects everything"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["node", "infra"]}]}, NODE_AGENT, True, id="In with the value"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}, NODE_AGENT, False, id="In without the value"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["node"]}]}, {}, False, id="In label absent"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]}, NODE_AGENT, True, id="NotIn other value"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["node"]}]}, NODE_AGENT, False, id="NotIn with the value"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["node"]}]}, {}, True, id="NotIn label absent is selected as in Kubernetes"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, NODE_AGENT, True, id="Exists present"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"app": "agent"}, False, id="Exists absent"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"tier": ""}, True, id="Exists with an empty value"),
        pytest.param({"matchExpressions": [{"key": "debug", "operator": "DoesNotExist"}]}, NODE_AGENT, True, id="DoesNotExist absent"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, NODE_AGENT, False, id="DoesNotExist present"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "Exists", "values": []}]}, NODE_AGENT, True, id="Exists with an empty values list"),
        pytest.param(
            {"matchLabels": {"app": "agent"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["node"]}]},
            NODE_AGENT, True, id="matchLabels and matchExpressions both hold",
        ),
        pytest.param(
            {"matchLabels": {"app": "agent"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]},
            NODE_AGENT, False, id="matchLabels holds but an expression does not",
        ),
    ],
)
def test_a_selector_selects_as_kubernetes_does(
    selector: dict[str, Any], labels: dict[str, str], selected: bool
) -> None:
    assert parse_selector(selector).matches(labels) is selected


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param("tier=node", id="a string selector"),
        pytest.param(["tier"], id="a list"),
        pytest.param({"matchLabels": ["tier", "node"]}, id="matchLabels as a list"),
        pytest.param({"matchLabels": {"tier": 1}}, id="a non-string label value"),
        pytest.param({"matchExpressions": {"key": "tier"}}, id="matchExpressions as a map"),
        pytest.param({"matchExpressions": ["tier"]}, id="an expression that is not an object"),
        pytest.param({"matchExpressions": [{"operator": "Exists"}]}, id="missing key"),
        pytest.param({"matchExpressions": [{"key": "", "operator": "Exists"}]}, id="empty key"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "Equals", "values": ["node"]}]}, id="unknown operator"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "in", "values": ["node"]}]}, id="operator in the wrong case"),
        pytest.param({"matchExpressions": [{"key": "tier"}]}, id="missing operator"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "In"}]}, id="In without values"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": []}]}, id="NotIn with no values"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["x"]}]}, id="Exists with values"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "In", "values": [1]}]}, id="non-string values"),
        pytest.param({"matchExpressions": [{"key": "tier", "operator": "In", "values": "node"}]}, id="values as a string"),
    ],
)
def test_an_unusable_selector_is_refused(selector: Any) -> None:
    with pytest.raises(SelectorError):
        parse_selector(selector)
