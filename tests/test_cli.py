"""The operator's commands: list and revoke devices, Hue apps and Ruuvi sessions; failures in
one line."""

from __future__ import annotations

import subprocess

from tests.hue.conftest import post_api, press
from tests.live import BIN, ROOT, clean_env
from tests.nest.factories import issue_key, new_serial
from tests.ruuvi.helpers import unique_email
from tests.web.test_views import last_code


def test_nest_devices_and_remove(client, runner):
    serial, other = new_serial(), new_serial()
    key = issue_key(client, serial)["value"]
    assert client.post("/api/register", json={"code": key, "userId": "anna"}).json["success"]
    issue_key(client, other)
    listed = runner.invoke(args=["nest", "devices"]).output.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [[other, "-"], [serial, "anna"]]
    assert runner.invoke(args=["nest", "devices", "--user", "anna"]).output.startswith(serial)
    refused = runner.invoke(args=["nest", "remove", serial, "--user", "bob"])
    assert refused.exit_code == 1 and f"bob has no device {serial}" in refused.output
    done = runner.invoke(args=["nest", "remove", serial, "--user", "anna"])
    assert done.output == f"Device {serial} removed from anna\n"
    assert client.get("/api/registered-devices?userId=anna").json == []


def test_hue_apps_and_revoke(client, runner):
    press(client)
    key = post_api(client, {"devicetype": "cli#tablet"}).get_json()[0]["success"]["username"]
    listed = runner.invoke(args=["hue", "apps"]).output
    assert listed.startswith(f"{key[:6]}…\tcli#tablet\tcreated ") and key not in listed
    assert runner.invoke(args=["hue", "revoke", "nope"]).exit_code == 1
    assert runner.invoke(args=["hue", "revoke", key]).output == f"Revoked {key[:6]}…\n"
    assert "error" in client.get(f"/api/{key}/lights").get_json()[0]


def test_ruuvi_sessions_and_revoke(app, client, runner):
    address = unique_email("cli")
    tokens = []
    for _ in range(2):
        client.post("/register", json={"email": address})
        tokens.append(client.get(f"/verify?token={last_code(app)}").json["data"]["accessToken"])
    lines = runner.invoke(args=["ruuvi", "sessions", address.upper()]).output.splitlines()
    assert len(lines) == 2 and all("\tcreated " in line for line in lines)
    first = lines[0].split("\t")[0]
    one = runner.invoke(args=["ruuvi", "revoke", address, "--session", first])
    assert one.output == f"Session {first} of {address} revoked\n"
    alive = [
        client.get("/user", headers={"Authorization": f"Bearer {t}"}).status_code for t in tokens
    ]
    assert sorted(alive) == [200, 401]
    assert runner.invoke(args=["ruuvi", "revoke", address]).output.startswith("Every session")
    assert all(
        client.get("/user", headers={"Authorization": f"Bearer {t}"}).status_code == 401
        for t in tokens
    )
    assert runner.invoke(args=["ruuvi", "sessions", "nobody@example.com"]).exit_code == 1


def test_a_command_on_an_unmigrated_database_fails_in_one_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "hue", "press-link-button"],
        cwd=ROOT,
        env=clean_env(DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"homepair: database {url}",
        "homepair: the database refused this (no such table: setting); is it reachable and"
        " migrated (flask --app wsgi db upgrade)?",
    ]
