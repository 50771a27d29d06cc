"""set_condition: the one way a condition's lastTransitionTime is kept or moved."""

from __future__ import annotations

from hostns.conditions import set_condition

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


def condition(status: str, reason: str, message: str = "m") -> dict[str, str]:
    return {"type": "Active", "status": status, "reason": reason, "message": message}


def test_a_new_condition_starts_now() -> None:
    assert set_condition(None, condition("True", "Active"), T0) == [
        {**condition("True", "Active"), "lastTransitionTime": T0}
    ]


def test_the_same_status_and_reason_keep_the_time_even_with_a_new_message() -> None:
    old = [{**condition("True", "Active"), "lastTransitionTime": T0}]
    (new,) = set_condition(old, condition("True", "Active", "other words"), T1)
    assert new["lastTransitionTime"] == T0 and new["message"] == "other words"


def test_a_new_reason_is_a_transition_even_when_the_status_stays_false() -> None:
    old = [{**condition("False", "Expired"), "lastTransitionTime": T0}]
    (new,) = set_condition(old, condition("False", "Invalid"), T1)
    assert new["lastTransitionTime"] == T1


def test_other_condition_types_are_left_alone() -> None:
    other = {"type": "Ready", "status": "True", "reason": "R", "lastTransitionTime": T0}
    result = set_condition([other], condition("True", "Active"), T1)
    assert result[0] == other and result[1]["lastTransitionTime"] == T1
