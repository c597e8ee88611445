"""Route precedence on /api: Nest's static control paths first, every other /api path Hue's."""

from __future__ import annotations

import pytest

from tests.hue.conftest import assert_hue_json


@pytest.fixture
def client(make_client):
    """A client on a fresh database with the default settings."""
    return make_client()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/register"),
        ("GET", "/api/devices"),
        ("GET", "/api/registered-devices"),
        ("DELETE", "/api/registered-devices/ABCDEFGHIJ"),
    ],
)
def test_nest_control_paths_stay_nest(client, method, path):
    response = client.open(path, method=method, data=b"{}")
    assert response.headers["Content-Type"] == "application/json"
    assert b'"error":{"type"' not in response.data


@pytest.mark.parametrize(
    "path", ["/api/register", "/api/devices/", "/api/registered-devices/ABCDEFGHIJ"]
)
def test_odd_method_on_nest_path_is_nests_405(client, path):
    response = client.open(path, method="PROPFIND")
    assert response.status_code == 405
    assert response.data == b'{"success":false,"message":"Method not allowed"}'


def test_empty_segment_under_a_nest_path_is_nests_404(client):
    response = client.get("/api/registered-devices//ABCDEFGHIJ")
    assert response.status_code == 404
    assert response.data == b'{"success":false,"message":"Not found"}'


@pytest.mark.parametrize("path", ["/api/registerx", "/api/register/x", "/api/devicesx/lights"])
def test_paths_next_to_nests_are_hue(client, path):
    response = client.get(path)
    assert_hue_json(response)
    assert response.get_json()[0]["error"]["type"] == 1


@pytest.mark.parametrize("path", ["/api//config", "/api///", "/api/x//lights"])
def test_double_slashes_are_not_redirected(client, path):
    response = client.get(path)
    assert_hue_json(response)
