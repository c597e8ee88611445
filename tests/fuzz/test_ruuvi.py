"""Ruuvi under arbitrary traffic: every answer in its envelope, codes and tokens never corrupted.

The model holds the live codes (read from the sealed outbox, as the e-mail would carry them),
the used ones, the accounts and every token with its account and whether it was revoked:

- a live code verifies exactly once (any letter case), then is used for good;
- a new code for an address ends that address's earlier codes;
- a used code, or a string that is no live code, never signs anyone in;
- a token works until it is revoked (by itself or by ``DELETE /sessions``) and never after;
- one account's token cannot revoke another account's session.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

from tests.fuzz import strategies as fs
from tests.fuzz.helpers import ruuvi_code_for
from tests.fuzz.machine import ProtocolMachine, run_machine

FORBIDDEN = {
    "result": "error",
    "error": "Code used or expired",
    "code": "ER_FORBIDDEN",
    "sub_code": "ER_TOKEN_EXPIRED",
}
UNAUTHORIZED = {
    "result": "error",
    "error": "Unauthorized request.",
    "code": "ER_UNAUTHORIZED",
    "sub_code": None,
}
PATHS = ["/register", "/verify", "/user", "/sessions", "/sessions/1", "/sessions/x", "/sessions/"]
METHODS = ["GET", "POST", "DELETE", "PUT", "OPTIONS", "HEAD", "PATCH"]


class RuuviMachine(ProtocolMachine):
    """Model: live and used codes, accounts (display e-mail), tokens (account, revoked)."""

    def __init__(self):
        super().__init__()
        self.live: dict[str, str] = {}  # code -> the address as given to /register
        self.used: list[str] = []
        self.accounts: dict[str, str] = {}  # lower-cased address -> display e-mail
        self.tokens: dict[str, str] = {}  # token -> lower-cased address
        self.revoked: set[str] = set()

    def _bearer(self, token: str) -> dict:
        return {"Authorization": "Bearer " + token}

    def _live_tokens(self) -> list[str]:
        return [t for t in self.tokens if t not in self.revoked]

    # --- codes ---------------------------------------------------------------------------

    def _code_sent(self, address: str) -> None:
        # A new code ends the address's earlier ones (any letter case): one live code each.
        for earlier, given in list(self.live.items()):
            if given.lower() == address.lower():
                del self.live[earlier]
                self.used.append(earlier)
        code = ruuvi_code_for(self.app, address)
        assert code not in self.live, "a live code was issued twice"
        self.live[code] = address

    @initialize(address=fs.email_addresses())
    def first_code(self, address):
        """One code waiting, so verify has something to redeem from the start."""
        self.register(address)

    @rule(address=fs.email_addresses())
    def register(self, address):
        """``POST /register`` as the web app sends it; the code goes to the outbox."""
        answer = self.request("POST", "/register", json.dumps({"email": address}).encode())
        if answer.status == 429:
            return  # a limit (the oracle checked the answer); nothing was queued
        assert answer.json() == {"result": "success", "data": {"email": address}}
        self._code_sent(address)

    @rule(body=fs.ruuvi_register_bodies())
    def register_fuzzed(self, body):
        """Any body; a 200 queued exactly one code for the address it echoes."""
        answer = self.request("POST", "/register", body, headers={"Content-Type": "text/plain"})
        if answer.status == 200:
            self._code_sent(answer.json()["data"]["email"])

    def _verified(self, code: str, answer) -> None:
        address = self.live.pop(code)
        self.used.append(code)
        data = answer.json()["data"]
        key = address.lower()
        assert data["newUser"] is (key not in self.accounts), data
        self.accounts.setdefault(key, address)
        assert data["email"] == self.accounts[key], data
        assert data["accessToken"] not in self.tokens
        self.tokens[data["accessToken"]] = key

    @precondition(lambda self: self.live or self.used)
    @rule(data=st.data(), lower=st.booleans())
    def verify(self, data, lower):
        """Redeem a live code (works once) or a used one (never works again)."""
        code = data.draw(st.sampled_from([*self.live, *self.used]), label="code")
        answer = self.request("GET", "/verify", query={"token": code.lower() if lower else code})
        if answer.status == 429:
            return  # limits are tested first, whatever the code
        if code in self.live:
            assert answer.status == 200, answer.body
            self._verified(code, answer)
        else:
            assert (answer.status, answer.json()) == (403, FORBIDDEN)

    @rule(token=fs.verify_tokens())
    def verify_fuzzed(self, token):
        """Any ``?token=``; success only for a code the model holds as live."""
        answer = self.request("GET", "/verify", query={"token": token})
        if answer.status == 200:
            assert token.upper() in self.live, token
            self._verified(token.upper(), answer)

    # --- tokens and sessions -------------------------------------------------------------

    @precondition(lambda self: self.tokens)
    @rule(data=st.data(), path=st.sampled_from(["/user", "/sessions"]), bare=st.booleans())
    def use_token(self, data, path, bare):
        """A token works until revoked, as ``Bearer`` or bare, and never after."""
        token = data.draw(st.sampled_from(list(self.tokens)), label="token")
        headers = {"Authorization": token} if bare else self._bearer(token)
        answer = self.request("GET", path, headers=headers)
        if token in self.revoked:
            assert (answer.status, answer.json()) == (401, UNAUTHORIZED)
            return
        assert answer.status == 200, answer.body
        if path == "/user":
            display = self.accounts[self.tokens[token]]
            assert answer.json()["data"] == {"email": display, "sensors": []}
        else:
            sessions = answer.json()["data"]["sessions"]
            assert [s["current"] for s in sessions].count(True) == 1
            mine = [t for t in self._live_tokens() if self.tokens[t] == self.tokens[token]]
            assert len(sessions) == len(mine)

    def _session_id(self, token: str) -> int:
        sessions = self.request("GET", "/sessions", headers=self._bearer(token)).json()
        return next(s["id"] for s in sessions["data"]["sessions"] if s["current"])

    @precondition(lambda self: self._live_tokens())
    @rule(data=st.data())
    def revoke_one(self, data):
        """``DELETE /sessions/<id>``: revokes that session, and only for its own account."""
        actor = data.draw(st.sampled_from(self._live_tokens()), label="actor")
        victim = data.draw(st.sampled_from(self._live_tokens()), label="victim")
        session = self._session_id(victim)
        answer = self.request("DELETE", f"/sessions/{session}", headers=self._bearer(actor))
        if self.tokens[actor] == self.tokens[victim]:
            assert answer.json() == {"result": "success", "data": {}}
            self.revoked.add(victim)
        else:
            assert answer.status == 404, answer.body

    @precondition(lambda self: self.tokens)
    @rule(data=st.data())
    def revoke_all(self, data):
        """``DELETE /sessions``: every token of the caller's account goes."""
        token = data.draw(st.sampled_from(list(self.tokens)), label="token")
        answer = self.request("DELETE", "/sessions", headers=self._bearer(token))
        if token in self.revoked:
            assert answer.status == 401
            return
        assert answer.json() == {"result": "success", "data": {}}
        self.revoked |= {t for t, key in self.tokens.items() if key == self.tokens[token]}

    @rule(
        method=st.sampled_from(METHODS),
        path=st.sampled_from(PATHS),
        auth=fs.authorization_junk(),
        body=fs.bodies(),
        segment=fs.text(),
    )
    def anything(self, method, path, auth, body, segment):
        """Any method, path, junk credentials and body: never a success that changes state."""
        if path == "/sessions/x":
            path = "/sessions/" + quote(segment, safe="", errors="surrogatepass")
        answer = self.request(method, path, body, headers={"Authorization": auth})
        if answer.status == 200 and method not in ("OPTIONS", "HEAD"):
            # Junk credentials never authenticate; only /register can succeed here.
            assert path == "/register" and method == "POST", (method, path, answer.body)
            self._code_sent(answer.json()["data"]["email"])


# Limits far above a run's traffic, so every answer is the protocol's and not a 429.
LIMITS = {
    "RUUVI_REGISTER_LIMIT_PER_EMAIL": "100000/hour",
    "RUUVI_REGISTER_LIMIT_PER_IP": "100000/hour",
    "RUUVI_REGISTER_LIMIT_TOTAL": "100000/hour",
    "RUUVI_VERIFY_LIMIT_PER_IP": "100000/hour",
    "RUUVI_VERIFY_LIMIT_TOTAL": "100000/hour",
}


def test_ruuvi_codes_and_tokens_survive_arbitrary_traffic_sqlite(make_app):
    run_machine(RuuviMachine, make_app(**LIMITS), examples=25, steps=30)


def test_ruuvi_under_default_limits(make_app):
    """With the shipped limits, 429s come in the envelope with Retry-After, nothing else breaks."""
    run_machine(RuuviMachine, make_app(), examples=6, steps=30)


@pytest.mark.postgres
def test_ruuvi_codes_and_tokens_survive_arbitrary_traffic_postgres(make_app, postgres_url):
    run_machine(RuuviMachine, make_app(DATABASE_URL=postgres_url, **LIMITS), examples=8, steps=30)
