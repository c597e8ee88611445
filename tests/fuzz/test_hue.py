"""Hue under arbitrary traffic: always HTTP 200 arrays in bridge order, whitelist never corrupted.

The model holds the whitelist and whether the link button window is open. The whitelist
may only grow by a success of ``POST /api`` (which needs the window open) and shrink by a
success of a whitelist ``DELETE``; the window only changes by the CLI or a whitelisted
``PUT /api/<u>/config``. After every step the database must hold exactly the model.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule
from sqlalchemy import select

from app.extensions import db
from app.hue import service
from app.hue.models import HueWhitelist
from tests.fuzz import strategies as fs
from tests.fuzz.machine import ProtocolMachine, run_machine

NOT_PRESSED = [{"error": {"type": 101, "address": "", "description": "link button not pressed"}}]
METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "PROPFIND"]


def segment(text: str) -> str:
    """``text`` as one path segment (a lone surrogate goes out as invalid UTF-8)."""
    return quote(text, safe="", errors="surrogatepass")


class HueMachine(ProtocolMachine):
    """Model: the whitelisted usernames and the link button window."""

    def __init__(self):
        super().__init__()
        self.whitelist: list[str] = []
        self.open = False

    def _keys(self) -> st.SearchStrategy[str]:
        """A whitelisted key (when there is one) or a key that is not."""
        known = [st.sampled_from(self.whitelist)] * 2 if self.whitelist else []
        # "/" and dot segments would change the path's shape, not the key.
        other = fs.hue_usernames().map(lambda k: str(k).replace("/", "_").replace(".", "_"))
        return st.one_of(*known, other, st.just("config"))

    def _observe(self, items) -> None:
        """Apply the successes of a result array to the model."""
        if not isinstance(items, list):
            return
        for item in items:
            success = item.get("success")
            if isinstance(success, dict) and "username" in success:
                assert self.open, "a user was created with the link button window closed"
                assert len(items) == 1, items
                if success["username"] not in self.whitelist:
                    self.whitelist.append(success["username"])
            elif isinstance(success, dict) and "/config/linkbutton" in success:
                self.open = success["/config/linkbutton"]
            elif isinstance(success, str):
                key = success.removeprefix("/config/whitelist/").removesuffix(" deleted")
                assert key in self.whitelist, success
                self.whitelist.remove(key)

    @initialize()
    def first_app(self):
        """Press the button and register one app, so whitelisted paths are reachable."""
        self.press()
        self.create_user(json.dumps({"devicetype": "fuzz#first"}).encode())

    @rule()
    def press(self):
        """The operator presses the link button (the CLI, as the README says)."""
        result = self.app.test_cli_runner().invoke(args=["hue", "press-link-button"])
        assert result.exit_code == 0, result.output
        self.open = True

    @rule(body=fs.create_user_bodies())
    def create_user(self, body):
        """``POST /api`` with any body; errors never change the whitelist."""
        items = self.request("POST", "/api", body).json()
        if self.open:
            assert NOT_PRESSED[0] not in items, "type 101 with the window open"
        self._observe(items)  # and a success needs the window open

    @rule(data=st.data(), body=fs.config_bodies())
    def put_config(self, data, body):
        """``PUT /api/<u>/config``: only a whitelisted key moves the link button."""
        key = data.draw(self._keys(), label="key")
        items = self.request("PUT", f"/api/{segment(key)}/config", body).json()
        if key not in self.whitelist:
            assert items == [
                {"error": {"type": 1, "address": "/config", "description": "unauthorized user"}}
            ]
        self._observe(items)

    @precondition(lambda self: self.whitelist)
    @rule(data=st.data())
    def delete_key(self, data):
        """Any key deletes any key; others get type 1 or 3."""
        key, victim = data.draw(self._keys(), label="key"), data.draw(self._keys(), label="victim")
        items = self.request(
            "DELETE", f"/api/{segment(key)}/config/whitelist/{segment(victim)}"
        ).json()
        if key in self.whitelist and victim in self.whitelist:
            assert items == [{"success": f"/config/whitelist/{victim} deleted"}]
        else:
            assert "error" in items[0] and items[0]["error"]["type"] in (1, 3), items
        self._observe(items)

    @rule(data=st.data(), method=st.sampled_from(METHODS), body=fs.bodies())
    def anything(self, data, method, body):
        """Any method on any path under ``/api``; whatever succeeds is applied to the model."""
        key = data.draw(self._keys(), label="key")
        rest = data.draw(fs.hue_rest(), label="rest")
        path = data.draw(
            st.sampled_from(["/api", "/api/", f"/api/{segment(key)}{rest}"]), label="path"
        )
        answer = self.request(method, path, body)
        if method != "HEAD":
            self._observe(answer.json())

    @invariant()
    def database_matches_the_model(self):
        """The whitelist and the window are exactly what the successes said."""
        with self.app.app_context():
            try:
                stored = db.session.execute(select(HueWhitelist.username)).scalars().all()
                is_open = service.link_button_open()
            finally:
                db.session.remove()
        assert sorted(stored) == sorted(self.whitelist)
        assert is_open == self.open


# A window longer than any run, so the model need not follow the clock.
SETTINGS = {"HUE_LINK_WINDOW_SECONDS": 3600}


def test_hue_whitelist_survives_arbitrary_traffic_sqlite(make_app):
    run_machine(HueMachine, make_app(**SETTINGS), examples=25, steps=30)


def test_hue_without_client_usernames(make_app):
    run_machine(HueMachine, make_app(HUE_ALLOW_CLIENT_USERNAME=False, **SETTINGS), 10, 20)


@pytest.mark.postgres
def test_hue_whitelist_survives_arbitrary_traffic_postgres(make_app, postgres_url):
    run_machine(HueMachine, make_app(DATABASE_URL=postgres_url, **SETTINGS), examples=8, steps=30)
