"""Who wrote a workload's pods or its pod template: a finding's `status.actors`.

Pure. An actor is a small record read from one audit event (spec §6.4) — the
request that created or changed the workload's pods or template. A finding keeps
a bounded, most-recent-first list of them, deduplicated by auditID; the list is
merged with what is stored, so a restarted operator (which remembers nothing)
never wipes it.

Every string comes from the API server's audit event, but some of it from the
client: `userAgent` is whatever the caller sent. Strings are cut to a bounded
length and control characters removed, so an actor cannot bloat a finding or
forge lines in an Event message or a log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from hostns.core.bodies import field, mapping
from hostns.core.exceptions import parse_time

#: Actors kept per finding.
ACTOR_LIMIT: Final = 10
MAX_TEXT: Final = 256
MAX_GROUPS: Final = 16
MAX_SOURCE_IPS: Final = 4
#: Kubernetes' own controllers: their writes are recorded, but a person's write is
#: what an analyst looks for, so a full list drops a controller's entry first.
_CONTROLLER_USERS: Final = ("system:kube-controller-manager", "system:kube-scheduler")
_CONTROLLER_PREFIXES: Final = ("system:serviceaccount:kube-system:", "system:node:")
_EPOCH: Final = datetime.min.replace(tzinfo=UTC)

Actor = dict[str, Any]


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    cleaned = "".join(ch for ch in value[:MAX_TEXT] if ch.isprintable())
    return cleaned or None


def _timestamp(value: Any) -> str | None:
    """The request's time as recorded, if it is one (the CRD checks it is a date-time)."""
    if not isinstance(value, str):
        return None
    try:
        parse_time(value)
    except ValueError:
        return None
    return value


def _texts(value: Any, limit: int) -> list[str]:
    if not isinstance(value, list):
        return []
    return [text for text in (_text(item) for item in value[:limit]) if text is not None]


def actor_of(event: Mapping[str, Any], name: str | None) -> Actor:
    """The actor record of one audit event (`name`: the object written, when known)."""
    user, ref = field(event, "user"), field(event, "objectRef")
    actor: Actor = {
        "username": _text(user.get("username")),
        "groups": _texts(user.get("groups"), MAX_GROUPS),
        "sourceIPs": _texts(event.get("sourceIPs"), MAX_SOURCE_IPS),
        "userAgent": _text(event.get("userAgent")),
        "verb": _text(event.get("verb")),
        "resource": _text(ref.get("resource")),
        "subresource": _text(ref.get("subresource")),
        "name": _text(name),
        "time": _timestamp(event.get("requestReceivedTimestamp")),
        "auditID": _text(event.get("auditID")),
    }
    impersonated = event.get("impersonatedUser")
    if isinstance(impersonated, Mapping):
        actor["impersonatedUser"] = {
            "username": _text(impersonated.get("username")),
            "groups": _texts(impersonated.get("groups"), MAX_GROUPS),
        }
    return {key: value for key, value in actor.items() if value is not None}


def effective_user(actor: Mapping[str, Any]) -> str:
    """Who the request acted as: the impersonated user, else the authenticated one."""
    impersonated = mapping(actor.get("impersonatedUser")).get("username")
    if isinstance(impersonated, str) and impersonated:
        return impersonated
    username = actor.get("username")
    return username if isinstance(username, str) and username else "?"


def is_controller(actor: Mapping[str, Any]) -> bool:
    user = effective_user(actor)
    return user in _CONTROLLER_USERS or user.startswith(_CONTROLLER_PREFIXES)


def _time(actor: Mapping[str, Any]) -> datetime:
    value = actor.get("time")
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            pass
    return _EPOCH  # unreadable: the oldest, so the first to go


def merge_actors(
    recent: Iterable[Mapping[str, Any]], stored: Any, limit: int = ACTOR_LIMIT
) -> list[Actor]:
    """`recent` and `stored` actors as one list: most recent first, one per auditID, bounded.

    When more than `limit` remain, the oldest controller entry is dropped before
    any person's, then the oldest entry.
    """
    merged: dict[str, Actor] = {}
    unnamed: list[Actor] = []
    for actor in [*recent, *(stored if isinstance(stored, list) else [])]:
        if not isinstance(actor, Mapping):
            continue  # a hand-edited status: ignore what cannot be an actor
        audit_id = actor.get("auditID")
        if isinstance(audit_id, str) and audit_id:
            merged.setdefault(audit_id, dict(actor))
        else:
            unnamed.append(dict(actor))
    ordered = sorted([*merged.values(), *unnamed], key=_time, reverse=True)
    while len(ordered) > limit:
        controllers = [i for i, actor in enumerate(ordered) if is_controller(actor)]
        del ordered[controllers[-1] if controllers else -1]
    return ordered


def with_actors(
    content: dict[str, Any], recent: Sequence[Mapping[str, Any]], stored_status: Any
) -> dict[str, Any]:
    """A finding's content with its `actors`: the recent ones merged with the stored ones.

    With neither (no audit webhook), the content has no `actors` key at all.
    """
    actors = merge_actors(recent, mapping(stored_status).get("actors"))
    return {**content, "actors": actors} if actors else content


def _agent(user_agent: Any) -> str:
    """`kubectl/v1.34.0 (linux/amd64) kubernetes/abc` -> `kubectl`: the program, no version."""
    if not isinstance(user_agent, str) or not user_agent:
        return "an unknown client"
    return user_agent.split("/", 1)[0].split(" ", 1)[0][:64] or "an unknown client"


def actor_phrase(actor: Mapping[str, Any]) -> str:
    """`alice (impersonated by admin) via kubectl: patch pods proxy at <time>` (Events)."""
    who = effective_user(actor)
    username = actor.get("username")
    if who != username and isinstance(username, str):
        who = f"{who} (impersonated by {username})"
    what = str(actor.get("resource") or "?")
    if actor.get("subresource"):
        what += f"/{actor['subresource']}"
    if actor.get("name"):
        what += f" {actor['name']}"
    return (
        f"{who} via {_agent(actor.get('userAgent'))}: {actor.get('verb') or '?'} {what}"
        f" at {actor.get('time') or '?'}"
    )


def latest_person(actors: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The most recent actor who is not one of Kubernetes' controllers, else the latest."""
    for actor in actors:
        if not is_controller(actor):
            return actor
    return actors[0] if actors else None
