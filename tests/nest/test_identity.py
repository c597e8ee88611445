"""Device identification (spec §2)."""

from __future__ import annotations

import base64

import pytest

from app.nest.service import identify_serial


def basic(user: str, password: str = "pw") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "headers, args, expected",
    [
        ({"Authorization": basic("02AB01AC012345678")}, {}, "02AB01AC012345678"),
        ({"Authorization": basic("nest.02ab01ac012345678")}, {}, "02AB01AC012345678"),
        ({"Authorization": basic("d.02AB01AC012345678.x")}, {}, "02AB01AC012345678"),
        ({"Authorization": basic(".02AB01AC012345678")}, {}, "02AB01AC012345678"),
        ({"Authorization": basic("02AB01AC012345678.")}, {}, "02AB01AC012345678"),
        ({"X-nl-client-id": "d.02AB01AC012345678.rand"}, {}, "02AB01AC012345678"),
        ({"X-nl-device-id": "02-AB-01-AC-01-23"}, {}, "02AB01AC0123"),
        ({"X-NL-Device-Serial": "serial0001"}, {}, "SERIAL0001"),
        ({}, {"serial": "02AB01AC012345678"}, "02AB01AC012345678"),
        # A source that sanitizes to under 10 characters gives way to the next one.
        ({"Authorization": basic("short"), "X-nl-device-id": "LONGENOUGH1"}, {}, "LONGENOUGH1"),
        (
            {"Authorization": "Basic !!notbase64", "X-nl-device-id": "LONGENOUGH1"},
            {},
            "LONGENOUGH1",
        ),
        ({"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()}, {}, None),
        ({"Authorization": "Bearer 02AB01AC012345678"}, {}, None),
        ({}, {}, None),
    ],
)
def test_sources_in_order(headers, args, expected):
    assert identify_serial(headers, args) == expected


def test_basic_wins_over_later_sources():
    headers = {"Authorization": basic("d.FIRSTSERIAL1.x"), "X-nl-device-id": "SECONDSERIAL"}
    assert identify_serial(headers, {"serial": "THIRDSERIAL"}) == "FIRSTSERIAL1"
