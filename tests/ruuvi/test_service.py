"""Ruuvi service rules that need a controlled clock or random source (in process)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from app import mail
from app.clock import now_s
from app.extensions import db
from app.models import MailOutbox
from app.ruuvi import service
from app.ruuvi.models import RuuviCode, RuuviToken, RuuviUser
from tests.ruuvi.helpers import BODY_401, CODE_LINE, CORS

DAY = 24 * 3600


def sent_bodies(app) -> list[str]:
    """The unsealed bodies of every queued e-mail, oldest first."""
    with app.app_context():
        return [
            mail.unseal(b)
            for b in db.session.scalars(select(MailOutbox.body).order_by(MailOutbox.id)).all()
        ]


def sign_in(client, app, address: str) -> str:
    """Register and verify in process (the code read from the outbox); return the token."""
    assert client.post("/register", json={"email": address}).status_code == 200
    [code] = [line for line in sent_bodies(app)[-1].splitlines() if CODE_LINE.fullmatch(line)]
    return client.get(f"/verify?token={code}").get_json()["data"]["accessToken"]


def test_token_format_for_user_21(app):
    with app.app_context():
        db.session.add(RuuviUser(id=21, email_key="u@x.y", email="u@x.y", created_at=now_s()))
        db.session.flush()
        token = service.new_token(21, now_s())
        db.session.commit()

    assert token.startswith("753231/")
    assert len(token.split("/")[1]) == 64


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://station.example/verify", "https://station.example/verify?token="),
        ("https://h.example/#/?lang=en", "https://h.example/#/?lang=en&token="),
    ],
)
def test_the_verify_link_is_added_when_configured(app, client, url, link):
    app.config["RUUVI_VERIFY_URL"] = url
    assert client.post("/register", json={"email": "link@example.com"}).status_code == 200

    lines = sent_bodies(app)[0].splitlines()

    code = lines[2]
    assert lines[-2:] == ["", link + code]


def test_ttl_in_minutes_is_rounded_up(app, client):
    app.config["RUUVI_CODE_TTL_SECONDS"] = 61
    client.post("/register", json={"email": "ttl@example.com"})

    assert "It is valid for 2 minutes and can be used once." in sent_bodies(app)[0]


def test_tokens_idle_over_180_days_are_rejected_then_swept(app, client):
    stale = sign_in(client, app, "stale@example.com")
    aged = sign_in(client, app, "aged@example.com")
    with app.app_context():
        db.session.execute(
            update(RuuviToken)
            .where(RuuviToken.token_hash == service.token_digest(stale))
            .values(last_accessed=now_s() - 180 * DAY - 2)
        )
        db.session.execute(
            update(RuuviToken)
            .where(RuuviToken.token_hash == service.token_digest(aged))
            .values(last_accessed=now_s() - 179 * DAY)
        )
        db.session.commit()

    rejected = client.get("/user", headers={"Authorization": "Bearer " + stale})
    accepted = client.get("/user", headers={"Authorization": "Bearer " + aged})

    assert (rejected.status_code, rejected.data) == (401, BODY_401)
    assert accepted.status_code == 200
    with app.app_context():
        touched = db.session.scalar(
            select(RuuviToken.last_accessed).where(
                RuuviToken.token_hash == service.token_digest(aged)
            )
        )
        assert touched >= now_s() - 2  # use renews the 180 days
        tokens, _ = service.sweep()
        db.session.commit()
        assert tokens == 1
        assert db.session.scalar(select(db.func.count()).select_from(RuuviToken)) == 1


def test_the_sweep_deletes_used_and_expired_codes_only(app, client):
    sign_in(client, app, "used@example.com")  # its code is used
    client.post("/register", json={"email": "live@example.com"})
    client.post("/register", json={"email": "late@example.com"})
    with app.app_context():
        db.session.execute(
            update(RuuviCode)
            .where(RuuviCode.email == "late@example.com")
            .values(expires_at=now_s())
        )
        db.session.commit()

        _, codes = service.sweep()
        db.session.commit()

        assert codes == 2
        assert db.session.scalars(select(RuuviCode.email)).all() == ["live@example.com"]


def _scripted_choice(monkeypatch, codes):
    """Make the code generator draw ``codes`` in turn (tokens keep the real source)."""
    drawn = iter(codes)
    real = service.random_string

    def draw(alphabet, length):
        return next(drawn) if alphabet == service.CODE_ALPHABET else real(alphabet, length)

    monkeypatch.setattr(service, "random_string", draw)


def test_a_new_code_never_equals_a_live_one(app, client, monkeypatch):
    _scripted_choice(monkeypatch, ["AAAA", "AAAA", "BBBB"])
    client.post("/register", json={"email": "one@example.com"})

    client.post("/register", json={"email": "two@example.com"})

    bodies = sent_bodies(app)
    assert "\nAAAA\n" in bodies[0] and "\nBBBB\n" in bodies[1]


def test_an_expired_code_is_replaced_by_an_equal_new_one(app, client, monkeypatch):
    _scripted_choice(monkeypatch, ["CCCC", "CCCC"])
    client.post("/register", json={"email": "old@example.com"})
    with app.app_context():
        db.session.execute(update(RuuviCode).values(expires_at=now_s()))
        db.session.commit()

    client.post("/register", json={"email": "new@example.com"})

    verified = client.get("/verify?token=cccc").get_json()["data"]
    assert verified["email"] == "new@example.com"


def test_no_free_code_after_20_tries_is_an_internal_error(app, client, monkeypatch):
    _scripted_choice(monkeypatch, ["DDDD"] * 21)
    client.post("/register", json={"email": "first@example.com"})

    response = client.post("/register", json={"email": "second@example.com"})

    assert response.status_code == 500
    assert response.data == (
        b'{"result":"error","error":"Internal error","code":"ER_INTERNAL","sub_code":null}'
    )
    assert all(response.headers[k] == v for k, v in CORS.items())
    assert len(sent_bodies(app)) == 1  # the failed request queued nothing
