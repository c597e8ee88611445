"""Hypothesis strategies for every request body and identity header of the three protocols.

Each strategy mixes well-formed requests (so the fuzzing reaches the code behind validation)
with hostile ones: wrong JSON types, huge and non-64-bit integers, NUL, lone surrogates
(sent as JSON escapes), invalid UTF-8, truncated JSON, deep nesting and non-JSON bytes.
Bodies are bytes, because the protocols parse them whatever the Content-Type.
"""

from __future__ import annotations

import base64
import json

from hypothesis import strategies as st

from app.nest.service import BUCKET_TYPES, ENTRY_ALPHABET

NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\U0001f600",
    "<html><body>x</body></html>",
    "A3XR7M2",
    " a3xr7m2 ",
    "'; DROP TABLE nest_device;--",
    "%s%n%x",
    "\n",
    "\u202e",
    "null",
    "\uff10\uff11",  # full-width digits
    "a" * 300,
]
BIG_INTS = [2**31, 2**53 - 1, 2**53, 2**63 - 1, 2**63, -(2**63) - 1, 10**30]
RAW_BODIES = [
    b"",
    b"null",
    b"[]",
    b"{}",
    b"{",
    b'"x"',
    b"NaN",
    b'{"a":NaN}',
    b'{"a":Infinity}',
    b"1e400",
    b"[" * 3000,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":1,"a":2}',
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{}",
    b'{"a":"\xed\xa0\x80"}',  # a surrogate encoded as UTF-8: invalid UTF-8
    b"<html></html>",
]
USERS = ["homeassistant", "alice", "user_bob", "user_", "x" * 64]


def text() -> st.SearchStrategy[str]:
    """Short text, often one of the classic trouble makers."""
    return st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=12))


def header_text(max_size: int = 16) -> st.SearchStrategy[str]:
    """Printable ASCII, as an HTTP header value can carry it."""
    return st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=max_size)


def integers() -> st.SearchStrategy[int]:
    """Small, arbitrary and beyond-64-bit integers."""
    return st.one_of(st.integers(-3, 3), st.sampled_from(BIG_INTS), st.integers())


def scalars() -> st.SearchStrategy:
    """Any JSON scalar."""
    return st.one_of(
        st.none(),
        st.booleans(),
        integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        text(),
    )


def json_values(max_leaves: int = 4) -> st.SearchStrategy:
    """Any JSON value, nested a little."""
    return st.recursive(
        scalars(),
        lambda children: st.one_of(
            st.lists(children, max_size=3), st.dictionaries(text(), children, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def encoded(value) -> st.SearchStrategy[bytes]:
    """``value`` as JSON bytes: escaped ASCII, or raw UTF-8 (surrogates as invalid UTF-8)."""
    return st.sampled_from(
        [
            json.dumps(value).encode("ascii"),
            json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"),
        ]
    )


def bodies(objects: st.SearchStrategy | None = None) -> st.SearchStrategy[bytes]:
    """Mostly ``objects`` encoded as JSON; sometimes any JSON, or bytes that are not JSON."""
    junk = [json_values().flatmap(encoded), st.sampled_from(RAW_BODIES), st.binary(max_size=24)]
    if objects is None:
        return st.one_of(*junk)
    # one_of picks a branch uniformly: three of six draw the protocol's own shape.
    return st.one_of(*[objects.flatmap(encoded)] * 3, *junk)


def with_extras(required: dict, optional: dict) -> st.SearchStrategy[dict]:
    """A dict of the given fields plus, sometimes, unknown keys."""
    return st.builds(
        lambda known, extra: {**extra, **known},
        st.fixed_dictionaries(required, optional=optional),
        st.one_of(st.just({}), st.dictionaries(text(), json_values(), max_size=2)),
    )


# --- Nest --------------------------------------------------------------------------------


def serial_numbers() -> st.SearchStrategy[str]:
    """Valid device serials (upper-case letters and digits, 10..20 characters)."""
    return st.from_regex(r"[0-9A-Z]{10,20}", fullmatch=True)


def entry_codes() -> st.SearchStrategy[str]:
    """Codes in the entry-key alphabet (mostly unknown to the server)."""
    return st.text(st.sampled_from(ENTRY_ALPHABET), min_size=7, max_size=7)


def code_values(known: st.SearchStrategy[str]) -> st.SearchStrategy:
    """The ``code`` of a claim: a known code (any case, padded), a made-up one, or junk."""
    return st.one_of(
        known,
        known.map(str.lower),
        known.map(lambda c: f"  {c} "),
        known.map(lambda c: c[:3] + "-" + c[3:]),
        entry_codes(),
        st.from_regex(r"[A-Za-z0-9]{6,8}", fullmatch=True),
        json_values(),
    )


def user_ids() -> st.SearchStrategy:
    """The ``userId`` of a claim: usual, edge-length or hostile."""
    return st.one_of(st.sampled_from(USERS), text(), st.just("x" * 65), json_values())


def register_bodies(known_codes: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    """``POST /api/register`` bodies."""
    claim = with_extras({}, {"code": code_values(known_codes), "userId": user_ids()})
    return bodies(claim)


def key_names(serial: str | None = None) -> st.SearchStrategy[str]:
    """Object keys as strings: the device's own, owner buckets of known users, odd ones."""
    names = [f"{kind}.{serial or '02AA0000000001'}" for kind in ("device", "shared", "schedule")]
    names += [f"user.{u}" for u in USERS] + [f"structure.{u.removeprefix('user_')}" for u in USERS]
    return st.one_of(
        st.sampled_from(names),
        st.sampled_from(["", "a" * 255, "a" * 256, "k\x00", "\ud800"]),
        text(),
    )


def bucket_keys(serial: str | None = None) -> st.SearchStrategy:
    """The ``object_key`` of a listed or put object: a key name, or any JSON value."""
    return st.one_of(key_names(serial), key_names(serial), json_values())


def listed_buckets(serial: str | None = None) -> st.SearchStrategy:
    """One entry of a subscribe's ``objects``."""
    entry = with_extras(
        {"object_key": bucket_keys(serial)},
        {
            "object_revision": st.one_of(integers(), json_values()),
            "object_timestamp": st.one_of(integers(), json_values()),
            "value": st.one_of(st.dictionaries(text(), json_values(), max_size=3), json_values()),
        },
    )
    return st.one_of(entry, entry, json_values())


def subscribe_bodies(serial: str | None = None) -> st.SearchStrategy[bytes]:
    """Subscribe bodies: the ``objects`` form and the firmware's top-level form.

    ``chunked`` is true in some, so a long-poll hold is exercised too.
    """
    objects_form = with_extras(
        {},
        {
            "chunked": st.one_of(st.booleans(), json_values()),
            "session": text(),
            "objects": st.one_of(st.lists(listed_buckets(serial), max_size=4), json_values()),
        },
    )
    top_level = st.dictionaries(
        st.one_of(st.sampled_from(sorted(BUCKET_TYPES)), text()),
        listed_buckets(serial),
        max_size=3,
    )
    return bodies(st.one_of(objects_form, top_level))


def put_bodies(serial: str | None = None) -> st.SearchStrategy[bytes]:
    """Put bodies: ``objects`` with revision checks, and the firmware's ``session`` form."""
    revision = st.one_of(integers(), st.none(), json_values())
    item = with_extras(
        {"object_key": bucket_keys(serial)},
        {
            "value": st.one_of(st.dictionaries(text(), json_values(), max_size=3), json_values()),
            "if_object_revision": revision,
            "base_object_revision": revision,
        },
    )
    objects_form = with_extras(
        {}, {"session": text(), "objects": st.one_of(st.lists(item, max_size=4), json_values())}
    )
    firmware = st.builds(
        lambda key, fields, session: {"session": session, key: {"object_key": key, **fields}},
        key_names(serial),
        st.dictionaries(text(), json_values(), max_size=3),
        text(),
    )
    return bodies(st.one_of(objects_form, firmware))


IDENTITY_SOURCES = ("basic", "client-id", "device-id", "device-serial", "query")


def _short_junk() -> st.SearchStrategy[str]:
    # Fewer than 10 letters and digits: never sanitizes into a serial.
    return st.one_of(
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=9),
        st.sampled_from(["!!!!!!!!!!!!!!", "....", "d..x", "\x7f", "a-b-c-d-e"]),
    )


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@st.composite
def identities(draw, serials: st.SearchStrategy[str]):
    """A device's identity in one or more of the spec's sources, some of them junk.

    Returns ``(headers, query, expected)``: ``expected`` is the serial the server must
    pick (the first source, in the spec's order, holding a real one), or None.
    """
    chosen = draw(st.lists(st.sampled_from(IDENTITY_SOURCES), min_size=1, max_size=3, unique=True))
    headers: dict[str, str] = {}
    query: dict[str, str] = {}
    expected = None
    for source in sorted(chosen, key=IDENTITY_SOURCES.index):
        serial = draw(st.one_of(st.none(), serials, serials))
        junk = draw(_short_junk())
        if source == "basic":
            if serial is None:
                headers["Authorization"] = draw(
                    st.sampled_from(
                        [
                            _basic(junk, "pw"),
                            "Basic !!!not-base64",
                            "Basic " + base64.b64encode(b"no-colon-here").decode(),
                            "Bearer " + junk,
                            junk,
                        ]
                    )
                )
            else:
                shape = draw(st.sampled_from(["{}", "d.{}.x", "nest.{}"]))
                headers["Authorization"] = _basic(shape.format(serial), draw(header_text()))
        elif source == "client-id":
            headers["X-nl-client-id"] = f"d.{serial}.r" if serial else junk
        elif source == "device-id":
            headers["X-nl-device-id"] = serial.lower() if serial else junk
        elif source == "device-serial":
            headers["X-NL-Device-Serial"] = serial or junk
        else:
            query["serial"] = serial or junk
        if serial and expected is None:
            expected = serial.upper()
    return headers, query, expected


# --- Hue ---------------------------------------------------------------------------------


def hue_usernames() -> st.SearchStrategy:
    """Client-chosen usernames: valid ones, wrong lengths and characters, wrong types."""
    return st.one_of(
        st.from_regex(r"[0-9A-Za-z]{10,40}", fullmatch=True),
        st.sampled_from(["burges", "a" * 41, "bad-name-with-dash"]),
        text(),
        json_values(),
    )


def create_user_bodies() -> st.SearchStrategy[bytes]:
    """``POST /api`` bodies."""
    devicetype = st.one_of(
        st.from_regex(r"[a-z_]{1,20}#[a-z ]{0,19}", fullmatch=True),
        st.sampled_from(["", "x" * 40, "x" * 41, "é" * 20, "é" * 21]),
        text(),
        json_values(),
    )
    body = with_extras(
        {},
        {
            "devicetype": devicetype,
            "username": hue_usernames(),
            "generateclientkey": st.one_of(st.booleans(), json_values()),
        },
    )
    return bodies(body)


def config_bodies() -> st.SearchStrategy[bytes]:
    """``PUT /api/<u>/config`` bodies."""
    body = with_extras({}, {"linkbutton": st.one_of(st.booleans(), json_values())})
    return bodies(body)


def hue_rest() -> st.SearchStrategy[str]:
    """What may follow ``/api/<username>``: real resources, odd paths, junk."""
    return st.one_of(
        st.sampled_from(
            ["", "/", "/config", "/config/", "/lights", "/groups/1", "/config/whitelist", "//x"]
        ),
        st.lists(
            st.text(
                st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#%"),
                max_size=8,
            ),
            max_size=3,
        ).map(lambda parts: "/" + "/".join(parts)),
    )


# --- Ruuvi -------------------------------------------------------------------------------


def email_addresses() -> st.SearchStrategy[str]:
    """Addresses the server accepts (WHATWG pattern), in mixed letter case."""
    local = st.from_regex(r"[A-Za-z0-9.+_-]{1,12}", fullmatch=True)
    domain = st.from_regex(r"[A-Za-z0-9]{1,10}(\.[A-Za-z]{2,5}){0,2}", fullmatch=True)
    return st.builds(lambda a, b: f"{a}@{b}", local, domain)


def ruuvi_register_bodies() -> st.SearchStrategy[bytes]:
    """``POST /register`` bodies."""
    email = st.one_of(
        email_addresses(),
        st.emails().filter(lambda e: len(e) < 300),
        st.sampled_from(["nope", "a@b\n", "a@b.", "@b", "a" * 250 + "@b.co", "a@-b"]),
        text(),
        json_values(),
    )
    return bodies(with_extras({}, {"email": email}))


def verify_tokens() -> st.SearchStrategy[str]:
    """``?token=`` values: code-shaped, wrong length, junk."""
    return st.one_of(
        st.from_regex(r"[A-Za-z0-9]{4}", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9]{0,6}", fullmatch=True),
        header_text(8),
    )


def authorization_junk() -> st.SearchStrategy[str]:
    """``Authorization`` values that are no live token."""
    token_shape = st.builds(
        lambda user, secret: f"{user}/{secret}",
        st.sampled_from(["7531", "753231", "75", "zz", "7531" * 20]),
        st.from_regex(r"[A-Za-z0-9]{60,66}", fullmatch=True),
    )
    return st.one_of(
        token_shape,
        token_shape.map(lambda t: "Bearer " + t),
        token_shape.map(lambda t: "bEaReR   " + t),
        st.sampled_from(["", "Bearer", "Bearer ", "Basic dXNlcjpwdw==", "Bearer a b"]),
        header_text(30),
    )
