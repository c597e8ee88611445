"""Ruuvi logic: addresses, e-mailed codes, access tokens, sessions and the sweep.

Views parse the request, call these functions, commit, and build the wire answer. No secret
reaches the database in clear: codes are stored as HMAC-SHA256(SECRET_KEY, code), tokens as
SHA-256, and the e-mail that carries a code is sealed in the outbox (:mod:`app.mail`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import string
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy import bindparam, delete, or_, select, update

from app import events, mail
from app.bodies import INVALID
from app.clock import now_s
from app.codes import random_string
from app.dbutil import affected, insert_ignore, read, run, table
from app.envelopes import compact
from app.extensions import db
from app.limits import MISSING
from app.ruuvi.contract import (
    CODE_ALPHABET,
    CODE_LENGTH,
    CODE_PATTERN,
    EMAIL_MAX_LENGTH,
    EMAIL_RE,
    TOKEN_PATTERN,
)
from app.ruuvi.models import RuuviCode, RuuviToken, RuuviUser

CODE_TRIES = 20
TOKEN_ALPHABET = string.ascii_letters + string.digits
TOKEN_SECRET_LENGTH = 64
TOKEN_IDLE_SECONDS = 180 * 24 * 3600
SWEEP_INTERVAL_SECONDS = 3600.0
SUBJECT = "Your verification code"
_CODE_RE = re.compile(CODE_PATTERN)
_TOKEN_RE = re.compile(TOKEN_PATTERN)
_SESSION_ID_RE = re.compile(r"[0-9]{1,10}")
# Session ids are INTEGER columns: PostgreSQL rejects a larger literal with an error.
_MAX_ID = 2**31 - 1


class NotAnObject(Exception):
    """The body is empty, not JSON, or not a JSON object."""


class InvalidEmail(Exception):
    """``email`` is absent, not a string, too long or not an address."""

    def __init__(self, shown: str):
        super().__init__(shown)
        self.shown = shown


@dataclass(frozen=True)
class Verified:
    """A redeemed code: the account's display e-mail, a new token, and whether it is new."""

    email: str
    access_token: str
    new_user: bool


@dataclass(frozen=True)
class Caller:
    """An authenticated request: the user and the session (token row) it came with."""

    user_id: int
    session_id: int


# --- addresses ------------------------------------------------------------------------------


def parse_register(body: Any) -> str:
    """The address of a ``/register`` body, as given; raises NotAnObject or InvalidEmail."""
    if body is INVALID or not isinstance(body, dict):
        raise NotAnObject
    email = body.get("email")
    if isinstance(email, str) and len(email) <= EMAIL_MAX_LENGTH and EMAIL_RE.fullmatch(email):
        return email
    raise InvalidEmail("" if email is None else compact(email))


def email_limit_key(body: Any) -> str:
    """The per-address limit key of a ``/register`` body; never empty.

    The lower-cased address is hashed so that rate-limit storage (Redis) holds no addresses.
    """
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str) or not email:
        return MISSING
    return "email:" + hashlib.sha256(email.lower().encode("utf-8")).hexdigest()


# --- codes ----------------------------------------------------------------------------------


def code_digest(code: str) -> str:
    """HMAC-SHA256(SECRET_KEY, code upper-cased), hex: the only form a code is stored in."""
    key = current_app.config["SECRET_KEY"].encode("utf-8")
    return hmac.new(key, code.upper().encode("utf-8"), hashlib.sha256).hexdigest()


def message_text(code: str) -> str:
    """The body of the code e-mail (spec §7)."""
    config = current_app.config
    minutes = math.ceil(config["RUUVI_CODE_TTL_SECONDS"] / 60)
    text = (
        f"Your verification code is:\n\n{code}\n\nIt is valid for {minutes} minutes and can be"
        " used once. If you did not ask for it, ignore this e-mail.\n"
    )
    url = config["RUUVI_VERIFY_URL"]
    if url:
        text += f"\n{url}{'&' if '?' in url else '?'}token={code}\n"
    return text


_CODES = table(RuuviCode)
# An address's earlier codes end when it gets a new one.
_END_CODES = (
    update(_CODES)
    .where(_CODES.c.email_key == bindparam("p_email_key"), _CODES.c.used_at.is_(None))
    .values(used_at=bindparam("p_now"))
)
# An expired, unused row with the new code's digest would block it: it goes.
_EXPIRED_TWIN = delete(_CODES).where(
    _CODES.c.code_hmac == bindparam("digest"),
    _CODES.c.used_at.is_(None),
    _CODES.c.expires_at <= bindparam("now"),
)


# The redeem: of concurrent redeems of one code exactly one UPDATE matches the unused row.
_LIVE = select(_CODES.c.id).where(
    _CODES.c.code_hmac == bindparam("digest"),
    _CODES.c.used_at.is_(None),
    _CODES.c.expires_at > bindparam("now"),
)
_CONSUME = (
    update(_CODES)
    .where(
        _CODES.c.code_hmac == bindparam("p_digest"),
        _CODES.c.used_at.is_(None),
        _CODES.c.expires_at > bindparam("p_now"),
    )
    .values(used_at=bindparam("p_now"))
    .returning(_CODES.c.email_key, _CODES.c.email)
)


def issue_code(email: str) -> None:
    """Create a code for ``email`` and queue its e-mail, in the current transaction.

    The address's earlier codes end here: each address has at most one live code (a unique
    index makes the database settle concurrent registrations; the loser ends the winner's
    code and tries again). A code never equals another unused one: a colliding expired row
    is deleted, a live one makes the unique index refuse the insert and a new code is drawn.
    The caller commits, then wakes the mail sender.
    """
    now = now_s()
    ttl = current_app.config["RUUVI_CODE_TTL_SECONDS"]
    email_key = email.lower()
    for _ in range(CODE_TRIES):
        run(_END_CODES, p_email_key=email_key, p_now=now)
        code = random_string(CODE_ALPHABET, CODE_LENGTH)
        digest = code_digest(code)
        run(_EXPIRED_TWIN, digest=digest, now=now)
        inserted = insert_ignore(
            RuuviCode,
            code_hmac=digest,
            email_key=email_key,
            email=email,
            created_at=now,
            expires_at=now + ttl,
        )
        if inserted:
            mail.queue(email, SUBJECT, message_text(code))
            mail.wake_after_commit()
            events.record("ruuvi.code.sent", email=email)
            return
    raise RuntimeError(f"no free verification code after {CODE_TRIES} tries")


def redeem(token: str) -> Verified | None:
    """Consume the code ``token`` (any letter case) and sign in; None if no live code matches.

    The conditional UPDATE is the consumption: of concurrent redeems of one code exactly one
    matches the unused row. The caller commits on success and rolls back otherwise.
    """
    # Matched before upper-casing: "ı".upper() is "I", and only ASCII codes exist.
    if not _CODE_RE.fullmatch(token):
        return None
    code = token.upper()
    now = now_s()
    digest = code_digest(code)
    # A wrong code (every guess) is answered from one read outside any transaction: no write
    # lock taken, nothing to roll back. The UPDATE below re-checks the row.
    if not read(_LIVE, digest=digest, now=now):
        return None
    consumed = run(_CONSUME, p_digest=digest, p_now=now).first()
    if consumed is None:
        return None
    created = insert_ignore(
        RuuviUser, email_key=consumed.email_key, email=consumed.email, created_at=now
    )
    user = db.session.execute(
        select(RuuviUser.id, RuuviUser.email).where(RuuviUser.email_key == consumed.email_key)
    ).one()
    events.record("ruuvi.code.verified", email=user.email, new_user=bool(created))
    return Verified(user.email, new_token(user.id, now), bool(created))


# --- tokens ---------------------------------------------------------------------------------


def token_digest(token: str) -> str:
    """SHA-256 of a token, hex: the only form a token is stored in."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(user_id: int, now: int) -> str:
    """Issue a token for ``user_id`` (a new session row) and return it."""
    secret = random_string(TOKEN_ALPHABET, TOKEN_SECRET_LENGTH)
    token = f"u{user_id}".encode("ascii").hex() + "/" + secret
    db.session.add(
        RuuviToken(
            user_id=user_id, token_hash=token_digest(token), created_at=now, last_accessed=now
        )
    )
    return token


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization`` value: ``Bearer <token>`` (any case) or bare."""
    value = (header or "").strip()
    if not value:
        return None
    scheme, space, rest = value.partition(" ")
    if not space:
        return value
    return rest.strip() if scheme.lower() == "bearer" else None


def _user_id_of(hex_part: str) -> int | None:
    try:
        text = bytes.fromhex(hex_part).decode("ascii")
    except ValueError:
        return None
    digits = text[1:]
    if text[:1] != "u" or not digits.isdigit():
        return None
    return int(digits)


def authenticate(header: str | None) -> Caller | None:
    """The caller of a request with this ``Authorization`` value, or None (→ 401).

    A live token (used within the last 180 days) is touched: ``last_accessed`` = now, unless
    it already holds this second. The caller commits.
    """
    token = bearer_token(header)
    match = _TOKEN_RE.fullmatch(token or "")
    if token is None or match is None:
        return None
    user_id = _user_id_of(match[1])
    if user_id is None:
        return None
    digest = token_digest(token)
    row = db.session.execute(
        select(
            RuuviToken.id, RuuviToken.user_id, RuuviToken.token_hash, RuuviToken.last_accessed
        ).where(RuuviToken.token_hash == digest)
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.user_id != user_id:
        return None
    now = now_s()
    if now - row.last_accessed > TOKEN_IDLE_SECONDS:
        return None
    if row.last_accessed < now:
        db.session.execute(
            update(RuuviToken)
            .where(RuuviToken.id == row.id, RuuviToken.last_accessed < now)
            .values(last_accessed=now)
        )
    return Caller(row.user_id, row.id)


# --- accounts and sessions ------------------------------------------------------------------


def account_of(email: str) -> Caller | None:
    """The account of ``email`` (any case) as a caller with no current session, or None.

    For the operator's CLI, which acts on an account's sessions without holding one.
    """
    user_id = db.session.execute(
        select(RuuviUser.id).where(RuuviUser.email_key == email.strip().lower())
    ).scalar_one_or_none()
    return None if user_id is None else Caller(user_id, session_id=0)


def display_email(user_id: int) -> str:
    """The account's e-mail as first given."""
    return db.session.execute(select(RuuviUser.email).where(RuuviUser.id == user_id)).scalar_one()


def sessions_of(caller: Caller) -> list[dict]:
    """The caller's live sessions, most recently accessed first, then newest id first."""
    rows = db.session.execute(
        select(RuuviToken.id, RuuviToken.created_at, RuuviToken.last_accessed)
        .where(
            RuuviToken.user_id == caller.user_id,
            RuuviToken.last_accessed >= now_s() - TOKEN_IDLE_SECONDS,
        )
        .order_by(RuuviToken.last_accessed.desc(), RuuviToken.id.desc())
    ).all()
    return [
        {
            "id": row.id,
            "createdAt": row.created_at,
            "lastAccessed": row.last_accessed,
            "current": row.id == caller.session_id,
        }
        for row in rows
    ]


def revoke_session(caller: Caller, session_id: str) -> bool:
    """Delete one of the caller's sessions by its id as written in the path; False if none."""
    if not _SESSION_ID_RE.fullmatch(session_id) or int(session_id) > _MAX_ID:
        return False
    removed = affected(
        delete(RuuviToken).where(
            RuuviToken.id == int(session_id), RuuviToken.user_id == caller.user_id
        )
    )
    if removed == 1:
        events.record(
            "ruuvi.session.revoked", email=display_email(caller.user_id), session=int(session_id)
        )
    return removed == 1


def revoke_all(caller: Caller) -> None:
    """Delete every session of the caller, the current one included."""
    gone = affected(delete(RuuviToken).where(RuuviToken.user_id == caller.user_id))
    events.record("ruuvi.session.revoked", email=display_email(caller.user_id), sessions=gone)


# --- housekeeping ---------------------------------------------------------------------------


def sweep(now: int | None = None) -> tuple[int, int]:
    """Delete stale tokens and dead codes; return ``(tokens, codes)`` deleted. Caller commits."""
    now = now_s() if now is None else now
    tokens = affected(delete(RuuviToken).where(RuuviToken.last_accessed < now - TOKEN_IDLE_SECONDS))
    codes = affected(
        delete(RuuviCode).where(or_(RuuviCode.used_at.is_not(None), RuuviCode.expires_at <= now))
    )
    return tokens, codes


def sweep_step(app: Flask) -> float:
    """One pass of the per-worker sweep loop; returns the seconds until the next."""
    with app.app_context():
        try:
            sweep()
            db.session.commit()
        finally:
            db.session.remove()
    return SWEEP_INTERVAL_SECONDS
