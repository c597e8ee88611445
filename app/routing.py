"""Route registration shared by the protocol blueprints: one rule per path, methods listed.

How the protocols share ``/api`` (the one place this is decided):

- Nest's control API owns four static paths (``/api/register``, ``/api/devices``,
  ``/api/registered-devices`` and ``/api/registered-devices/<serial>``), each one rule with
  the methods it serves. Werkzeug tries static parts first, so these win over Hue's.
- Hue owns everything else under ``/api``: ``/api`` and ``/api/<anything>``, each one rule
  listing :data:`ALL_METHODS`. A method no rule lists (``PROPFIND``) is a 405 that the Hue
  error namespace answers with the same Hue answer its views give.
- A request on a Nest path with a method Nest does not serve reaches Hue's rule (or the 405
  fallback); Hue's view sees the path belongs to Nest's namespace (``app.errors``) and
  answers Nest's 405 (or Nest's 404 for an empty segment), so each protocol answers its own
  paths in its own envelope.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _path_argument(path: str) -> str | None:
    """The name of a trailing ``<path:name>`` converter, if the path ends with one."""
    last = path.rsplit("/", 1)[-1]
    if last.startswith("<path:") and last.endswith(">"):
        return last[len("<path:") : -1]
    return None


def add_resource(
    bp: Blueprint,
    paths: Iterable[str],
    views: Mapping[str, Callable[..., ResponseReturnValue]],
    endpoint: str | None = None,
    slash: bool = True,
) -> None:
    """Register one rule per path serving ``views`` (method → view); with ``slash`` each
    path also answers with one trailing slash.

    ``flask routes`` then lists each path once with every method it serves. A path ending in
    a ``<path:…>`` converter would swallow the slash into its value: one trailing slash is
    taken off that value before the view sees it.
    """
    views = dict(views)
    distinct = {id(view) for view in views.values()}
    first = next(iter(views.values()))
    view: Callable[..., ResponseReturnValue]
    if len(distinct) == 1:
        view = first
    else:

        def view(**kwargs: Any) -> ResponseReturnValue:
            method = "GET" if request.method == "HEAD" and "HEAD" not in views else request.method
            return views[method](**kwargs)

    targets: dict[str | None, Callable[..., ResponseReturnValue]] = {}
    for path in paths:
        name = _path_argument(path) if slash else None
        if name not in targets:
            targets[name] = _trim_slash(view, name) if name else view
        bp.add_url_rule(
            path,
            endpoint=endpoint or first.__name__,
            view_func=targets[name],
            methods=list(views),
            provide_automatic_options=False,
            strict_slashes=not slash,
        )


def _trim_slash(
    view: Callable[..., ResponseReturnValue], name: str
) -> Callable[..., ResponseReturnValue]:
    @functools.wraps(view)
    def trimmed(**kwargs: Any) -> ResponseReturnValue:
        value = kwargs[name]
        if value.endswith("/"):
            kwargs[name] = value[:-1]
        return view(**kwargs)

    return trimmed


def add_routes(
    bp: Blueprint,
    paths: Iterable[str],
    view: Callable[..., ResponseReturnValue],
    methods: Iterable[str],
    slash: bool = True,
) -> None:
    """:func:`add_resource` for one view serving ``methods`` on every path."""
    add_resource(bp, paths, {method: view for method in methods}, slash=slash)
