"""Pairing events: a log line each (JSON form), an audit row each, Prometheus counters summed
over workers."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests

from tests.nest.factories import auth, new_serial
from tests.rawhttp import subscribe
from tests.ruuvi.helpers import RuuviClient, start_smtp, unique_email

pytestmark = pytest.mark.live


def json_events(log: str) -> list[dict]:
    """The event lines of a server log written with LOG_FORMAT=json."""
    found = []
    for line in log.splitlines():
        if line.startswith("{"):
            value = json.loads(line)
            if "event" in value:
                found.append(value)
    return found


def test_each_pairing_event_has_a_json_log_line_and_an_audit_row(start_server):
    controller, mailbox = start_smtp()
    try:
        server = start_server(
            LOG_FORMAT="json",
            NEST_REGISTER_LIMIT_PER_IP="3/minute",
            MAIL_BACKEND="smtp",
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=controller.port,
        )
        # A live pairing: a held subscribe gets its owner buckets.
        serial = new_serial()
        code = requests.get(server.url + "/nest/passphrase", headers=auth(serial), timeout=5)
        stream = subscribe(server.url, serial)
        stream.read_head(timeout=5)
        claim = {"code": code.json()["value"], "userId": "eventuser"}
        assert requests.post(server.url + "/api/register", json=claim, timeout=5).json()["success"]
        assert b"user.eventuser" in stream.read_chunk(timeout=5)
        stream.close()
        # A failed claim, then the limit (3 a minute: the 4th attempt is refused).
        wrong = {"code": "ZZZZZZZ", "userId": "x"}
        answers = [
            requests.post(server.url + "/api/register", json=wrong, timeout=5) for _ in range(3)
        ]
        assert [a.status_code for a in answers] == [200, 200, 429]
        # A Hue registration after a press.
        server.flask("hue", "press-link-button")
        hue = requests.post(server.url + "/api", json={"devicetype": "events#app"}, timeout=5)
        key = hue.json()[0]["success"]["username"]
        # A Ruuvi sign-in.
        address = unique_email("events")
        with RuuviClient(server.url, mailbox) as ruuvi:
            ruuvi.sign_in(address)

        time.sleep(1.5)  # the audit writer's batch
        logged = json_events(server.log())
        by_event = {}
        for line in logged:
            by_event.setdefault(line["event"], []).append(line)
        assert {line["user"] for line in by_event["nest.claim.won"]} == {"eventuser"}
        assert by_event["nest.device.paired"][0]["serial"] == serial
        assert {line["reason"] for line in by_event["nest.claim.failed"]} == {"no live key"}
        assert by_event["limit.hit"][0]["limit"] == "nest-register-ip"
        assert by_event["hue.app.registered"][0]["app"] == "events#app"
        assert by_event["ruuvi.code.verified"][0]["email"] == address
        for line in logged:
            assert list(line)[:4] == ["time", "level", "logger", "message"]
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line["time"])
        # No secret in any log line: no entry key, no whole Hue key, no code.
        assert claim["code"] not in server.log() and key not in server.log()

        listed = server.flask("events", "--limit", "100").stdout
        for event in (
            "nest.claim.won",
            "nest.device.paired",
            "nest.claim.failed",
            "limit.hit",
            "hue.app.registered",
            "hue.link_button.pressed",  # the CLI's own event, written as it exits
            "ruuvi.code.sent",
            "ruuvi.code.verified",
        ):
            assert f"\t{event}\t" in listed, event
        only = server.flask("events", "--event", "nest.claim").stdout.splitlines()
        assert only and all("\tnest.claim." in line for line in only)
    finally:
        controller.stop()


def _metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.mark.redis
def test_metrics_are_summed_over_two_workers(start_server, redis_url):
    server = start_server(
        workers=2,
        REDIS_URL=redis_url,
        GUNICORN_CMD_ARGS="--access-logfile - --access-logformat=pid:%(p)s:%(U)s",
    )
    pids: set[str] = set()
    claims = 0
    deadline = time.monotonic() + 30
    while len(pids) < 2 and time.monotonic() < deadline:
        serial = new_serial()
        with requests.Session() as fresh:  # a new connection: either worker may take it
            code = fresh.get(server.url + "/nest/passphrase", headers=auth(serial)).json()
            body = {"code": code["value"], "userId": "metrics"}
            assert fresh.post(server.url + "/api/register", json=body).json()["success"]
        claims += 1
        time.sleep(0.05)
        pids = set(re.findall(r"pid:<(\d+)>:/api/register$", server.log(), re.MULTILINE))
    assert len(pids) == 2, "one worker served every claim"
    held = subscribe(server.url, new_serial())
    held.read_head(timeout=5)
    time.sleep(0.2)
    for _ in range(4):  # whichever worker answers, the numbers are the sum
        with requests.Session() as fresh:
            text = fresh.get(server.url + "/metrics", timeout=5).text
        assert _metric(text, "homepair_events_total", '{event="nest.claim.won"}') == claims
        assert _metric(text, "homepair_held_subscribes") == 1
        assert _metric(text, "homepair_outbox_depth") == 0
        assert "homepair_request_seconds_bucket" in text
    held.close()
