"""Nest claim use cases: the control token, the claim budgets, claim and wake.

``POST /api/register`` and the web pairing form both call these, so they answer alike and
draw on the same limits.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import current_app

from app import events
from app.dbutil import roll_back
from app.extensions import db, guard
from app.limits import everyone
from app.nest import service
from app.nest.contract import DEFAULT_USER, Msg

__all__ = ["DEFAULT_USER", "claim_and_wake", "control_token_ok", "spend_claim_budget"]


def control_token_ok(given: str | None, client: str) -> bool:
    """Whether ``given`` is the control token; a wrong one is a guess, spent from ``client``'s
    budget before comparing.

    With ``NEST_CONTROL_TOKEN`` unset every caller is allowed and nothing is counted. Raises
    :class:`app.limits.Throttled` / :class:`~app.limits.LimitsUnavailable` when the client's
    token budget (``NEST_CONTROL_AUTH_LIMIT_PER_IP``) is spent or cannot be counted.
    """
    expected = current_app.config["NEST_CONTROL_TOKEN"]
    if not expected:
        return True
    guard.spend("NEST_CONTROL_AUTH_LIMIT_PER_IP", "nest-control-auth-ip", client)
    return hmac.compare_digest((given or "").encode(), expected.encode())


def spend_claim_budget(client: str) -> None:
    """Count one claim attempt from ``client`` (its IP key), then in total, before it is
    evaluated.

    The web pairing form spends the same budgets. Raises :class:`app.limits.Throttled` or
    :class:`~app.limits.LimitsUnavailable` (the limits fail closed).
    """
    guard.spend("NEST_REGISTER_LIMIT_PER_IP", "nest-register-ip", client)
    guard.spend("NEST_REGISTER_LIMIT_TOTAL", "nest-register-total", everyone())


def claim_and_wake(body: Any) -> tuple[int, bool, str, str | None]:
    """Validate and claim; ``(status, success, message, serial)``.

    The caller has spent the claim budget. A success commits, then wakes the devices whose
    buckets changed.
    """
    try:
        code, user_id = service.validate_claim(body)
    except service.ClaimError as exc:
        events.record("nest.claim.failed", reason=str(exc))
        return 400, False, str(exc), None
    serial, _ = service.claim(code, user_id)
    if serial is None:
        roll_back()  # a lost race wrote nothing worth keeping; a wrong code opened nothing
        events.record("nest.claim.failed", reason="no live key")
        return 200, False, Msg.NO_LIVE_KEY, None
    db.session.commit()  # the devices it changed are woken as it commits
    events.record("nest.claim.won", serial=serial, user=user_id)
    return 200, True, Msg.REGISTERED.format(serial=serial, user=user_id), serial
