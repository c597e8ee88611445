"""Hue over real HTTP: several workers, the window closing, restarts and odd requests."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.hue.conftest import NOT_PRESSED, live_post, live_press, wait_until

pytestmark = pytest.mark.live

# gunicorn writes "hue-pid:<1234> /api" for every request, so a test sees which worker answered.
ACCESS_LOG = "--access-logfile - --access-logformat=hue-pid:%(p)s:%(m)s:%(U)s"
_ACCESS_LINE = re.compile(r"hue-pid:<(\d+)>:POST:/api$", re.MULTILINE)


def _posts_by_worker(server, count: int, body: dict) -> tuple[list[bytes], set[str]]:
    """``count`` concurrent ``POST /api`` on fresh connections: (bodies, worker pids)."""
    seen = len(_ACCESS_LINE.findall(server.log()))
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: live_post(server, body).content, range(count)))
    # gunicorn logs after the response is sent; give the last lines a moment to land.
    deadline = time.monotonic() + 2
    while len(_ACCESS_LINE.findall(server.log())) < seen + count and time.monotonic() < deadline:
        time.sleep(0.02)
    return answers, set(_ACCESS_LINE.findall(server.log())[seen:])


def _until_both_workers(server, body: dict, deadline: float) -> tuple[list[bytes], set[str]]:
    answers: list[bytes] = []
    pids: set[str] = set()
    while len(pids) < 2 and time.time() < deadline:
        batch, batch_pids = _posts_by_worker(server, 16, body)
        answers += batch
        pids |= batch_pids
    return answers, pids


def test_cli_press_is_seen_by_two_workers_until_the_window_closes(start_server, redis_url):
    server = start_server(
        workers=2,
        REDIS_URL=redis_url,
        HUE_LINK_WINDOW_SECONDS=5,
        HUE_LINK_MAX_REGISTRATIONS=10000,  # as many apps as it takes to reach both workers
        GUNICORN_CMD_ARGS=ACCESS_LOG,
    )
    until = live_press(server)
    # The window opens in the CLI's whole second (so lasts 4–5 s); stay clear of its end.
    answers, pids = _until_both_workers(server, {"devicetype": "worker#test"}, until - 2)
    assert len(pids) == 2, "only one worker answered"
    keys = [json.loads(a)[0]["success"]["username"] for a in answers]
    assert len(set(keys)) == len(keys)

    wait_until(until)
    closed, pids = _until_both_workers(server, {"devicetype": "late#test"}, time.time() + 20)
    assert len(pids) == 2, "only one worker answered"
    assert set(closed) == {NOT_PRESSED}


def test_whitelist_and_identity_survive_a_restart(start_server):
    server = start_server()
    live_press(server)
    key = live_post(server, {"devicetype": "restart#test"}).json()[0]["success"]["username"]
    named = live_post(server, {"username": "survivor01", "devicetype": "restart#named"})
    assert named.content == b'[{"success":{"username":"survivor01"}}]'
    bridge_id = requests.get(server.url + "/api/config", timeout=10).json()["bridgeid"]

    server.stop()
    server.start()

    config = requests.get(f"{server.url}/api/{key}/config", timeout=10).json()
    assert config["bridgeid"] == bridge_id
    assert config["whitelist"][key]["name"] == "restart#test"
    assert config["whitelist"]["survivor01"]["name"] == "restart#named"
    assert requests.get(f"{server.url}/api/survivor01/lights", timeout=10).content == b"{}"


def test_last_use_date_advances(live):
    live_press(live)
    key = live_post(live, {"devicetype": "lastuse#test"}).json()[0]["success"]["username"]
    url = f"{live.url}/api/{key}/config"
    first = requests.get(url, timeout=10).json()["whitelist"][key]["last use date"]
    # Dates have whole seconds: wait for the next one.
    time.sleep(1.05 - time.time() % 1)
    second = requests.get(url, timeout=10).json()["whitelist"][key]["last use date"]
    assert second > first


def test_unknown_username_from_loopback_is_type_1(live):
    response = requests.get(live.url + "/api/unknownuser1234/lights", timeout=10)
    assert response.status_code == 200
    assert response.content == (
        b'[{"error":{"type":1,"address":"/lights","description":"unauthorized user"}}]'
    )


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["/clip/v2/resource", "/clip/v2/resource/light", "/clip/v2/"])
def test_clip_v2_is_never_403(live, method, path):
    response = requests.request(method, live.url + path, timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"


_BIG = b'{"devicetype":"' + b"x" * (1024 * 1024 + 10) + b'"}'


def _chunks():
    yield b'{"devicetype":'
    for _ in range(70):
        yield b'"' + b"x" * 16384 + b'"'  # 1.1 MiB in all, no Content-Length


SWEEP = [
    ("POST", "/api", _BIG, {}),
    ("POST", "/api", _chunks, {}),
    ("POST", "/api", b"[" * 100_000, {}),
    ("POST", "/api", b"\xff\xfe\x00", {}),
    ("POST", "/api", b'{"devicetype":"x"}', {"Content-Type": "multipart/form-data; boundary=x"}),
    ("POST", "/api", b"devicetype=x", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("POST", "/api/", b'{"devicetype":"x"', {"Content-Type": "application/json"}),
    ("PUT", "/api/nobodyhere123/config", _BIG, {}),
    ("GET", "/api/config", _BIG, {}),
    ("PROPFIND", "/api", b"", {}),
    ("FOO", "/api/nobodyhere123/lights/1", b"", {}),
    ("TRACE", "/api/config", b"", {}),
    ("OPTIONS", "/api/", b"", {"Origin": "http://x", "Access-Control-Request-Method": "POST"}),
    ("HEAD", "/api/nobodyhere123", b"", {}),
    ("DELETE", "/api", b"", {}),
    ("GET", "/api//", b"", {}),
    ("GET", "/api///config//", b"", {}),
    ("GET", "/api/%00/config", b"", {}),
    ("GET", "/api/%ff%fe/lights", b"", {}),
    ("GET", "/api/..%2f..%2fetc/passwd", b"", {}),
    ("GET", "/api/" + "a" * 3000, b"", {}),
    ("GET", "/api/x?username=y&%zz", b"", {}),
    ("GET", "/api/config", b"", {"Host": "[::1"}),
    ("GET", "/api/config", b"", {"Content-Type": "application/json", "Content-Length": "0"}),
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), SWEEP)
def test_odd_requests_get_200_json(live, method, path, body, headers):
    data = body() if callable(body) else body
    response = requests.request(
        method, live.url + path, data=data, headers=headers, timeout=10, allow_redirects=False
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    if method != "HEAD":
        answer = response.json()
        assert b"<html" not in response.content.lower()
        if isinstance(answer, list):
            assert all(item.get("error", {}).get("type") != 901 for item in answer)


def test_oversized_registration_is_type_2(live):
    response = requests.post(live.url + "/api", data=_BIG, timeout=10)
    assert response.content == (
        b'[{"error":{"type":2,"address":"/","description":"body contains invalid json"}}]'
    )
