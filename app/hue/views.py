"""Hue v1 views (thin: the logic lives in app.hue.service).

Every answer on ``/api…`` is HTTP 200 JSON. The ``/api`` rules list every common method and
:func:`any_method` answers the others (``PROPFIND``, through the Hue error namespace), so
Werkzeug never answers a Hue path with its own 404/405: the service decides between types 1,
3 and 4. ``app.routing`` documents how Hue and Nest's control API share ``/api``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from flask import Response, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Rule

from app.bodies import json_body
from app.errors import namespace_of
from app.extensions import db
from app.hue import bp, contract, service
from app.hue.contract import response as hue_response
from app.hue.contract import success_item
from app.routing import ALL_METHODS


def create_user() -> Response:
    """``POST /api``: register an application; any other method is type 4 on ``/``."""
    if request.method != "POST":
        return hue_response([contract.method_not_available(request.method, "/")])
    try:
        app = service.register(json_body())
    except service.Refused as refused:
        db.session.rollback()
        return hue_response(refused.errors)
    db.session.commit()
    created = {"username": app.username}
    if app.clientkey is not None:
        created["clientkey"] = app.clientkey
    return hue_response([success_item(created)])


def resource(tail: str) -> Response:
    """Everything under ``/api/<username>``: config, state, collections, whitelist."""
    if namespace_of(request.path) != "hue":
        # A Nest control path that Nest's rules did not take: an empty segment
        # (/api/registered-devices//x) is Nest's 404, anything else a method they do not
        # list (PROPFIND) and Nest's 405.
        # A newline is a character Nest's <path:serial> does not match: also Nest's 404.
        raise NotFound() if "//" in request.path or "\n" in request.path else MethodNotAllowed()
    username, _, rest = tail.partition("/")
    answer = _resource_answer(username, rest.rstrip("/"), request.method, _host(), json_body)
    db.session.commit()
    return hue_response(answer)


def _resource_answer(
    username: str, rest: str, method: str, host: str, body_reader: Callable[[], Any]
) -> Any:
    """The answer for ``METHOD /api/<username>/<rest>`` (spec §5, §6).

    ``rest`` is the path after the username without slashes at either end; ``body_reader``
    returns the parsed JSON body and is called only when the resource reads one, so a
    refused request never has its body read. The caller commits.
    """
    verb = "GET" if method == "HEAD" else method
    if username == "config" and rest == "" and verb == "GET":
        # GET /api/config: "config" can never be a key (keys have 10+ characters).
        return service.short_config()
    if service.authenticate(username) is None:
        if rest == "config" and verb == "GET":
            return service.short_config()
        return [contract.unauthorized("/" + rest.split("/", 1)[0])]
    address = "/" + rest
    if rest == "":
        if verb == "GET":
            return service.full_state(host)
    elif rest == "config":
        if verb == "GET":
            return service.full_config(host)
        if verb == "PUT":
            return [
                success_item({r.path: r.value}) if isinstance(r, service.Changed) else r
                for r in service.update_config(body_reader())
            ]
    elif rest in contract.COLLECTIONS:
        if verb == "GET":
            return {}
    elif match := service.WHITELIST_DELETE.fullmatch(rest):
        if verb == "DELETE":
            key = match.group(1)
            if service.delete_key(key):
                return [success_item(contract.WHITELIST_DELETED.format(key=key))]
            return [contract.resource_not_available(f"/config/whitelist/{key}")]
    else:
        return [contract.resource_not_available(address)]
    return [contract.method_not_available(method, address)]


def _host() -> str:
    return request.headers.get("Host") or request.host


DESCRIPTION = """<?xml version="1.0" encoding="UTF-8" ?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>
<URLBase>http://{ip}:{port}/</URLBase>
<device>
<deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>
<friendlyName>homepair ({ip})</friendlyName>
<manufacturer>Signify</manufacturer>
<manufacturerURL>http://www.philips-hue.com</manufacturerURL>
<modelDescription>Philips hue Personal Wireless Lighting</modelDescription>
<modelName>Philips hue bridge 2015</modelName>
<modelNumber>BSB002</modelNumber>
<modelURL>http://www.philips-hue.com</modelURL>
<serialNumber>{mac12}</serialNumber>
<UDN>uuid:2f402f80-da50-11e1-9b23-{mac12}</UDN>
<presentationURL>index.html</presentationURL>
</device>
</root>"""


@bp.get("/description.xml")
def description() -> Response:
    """``GET /description.xml``: the UPnP description, addressed as the request was."""
    ip, port = service.split_host(_host())
    if port is None:
        port = "443" if request.scheme == "https" else "80"
    mac12 = service.bridge_mac().replace(":", "")
    db.session.commit()
    # The Host header is the client's text: escape it before it goes into XML.
    body = DESCRIPTION.format(ip=escape(ip), port=escape(port), mac12=mac12)
    return Response(body, content_type="text/xml")


class _TailConverter(BaseConverter):
    """Everything after ``/api/``, empty segments and slashes included (``/api//config``).

    ``[\\s\\S]`` rather than ``.``: a newline (``%0A``) in a username is still a username
    (type 1), not a path no rule matches.
    """

    regex = r"[\s\S]+"  # "/api/" itself is create_user's
    part_isolating = False


def any_method() -> Response:
    """The Hue answer for a method no rule lists (``PROPFIND /api/<u>/config``): what the
    views answer for it. The Hue error namespace calls this for a 405 on a Hue path."""
    if request.path in ("/api", "/api/"):
        return create_user()
    return resource(request.path[len("/api/") :])


def _rules(state: BlueprintSetupState) -> None:
    # Added to the map directly: merge_slashes=False, so "/api//x" is not redirected (a 308
    # is not a Hue answer). Nest's static /api/register… rules still win: Werkzeug tries
    # static parts first. "/api/" is create_user's, not resource's with an empty tail.
    state.app.url_map.converters["hue_tail"] = _TailConverter
    routes = (
        ("/api", "create_user", create_user),
        ("/api/<hue_tail:tail>", "resource", resource),
    )
    for path, name, view in routes:
        endpoint = f"{bp.name}.{name}"
        state.app.view_functions[endpoint] = view
        rule = Rule(
            path,
            endpoint=endpoint,
            methods=ALL_METHODS,
            merge_slashes=False,
            strict_slashes=False,
        )
        state.app.url_map.add(rule)


bp.record_once(_rules)
