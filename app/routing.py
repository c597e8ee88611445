"""Route registration helpers shared by the protocol blueprints."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Blueprint

ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def add_routes(
    bp: Blueprint, paths: Iterable[str], view: Callable, methods: Iterable[str], slash: bool = True
) -> None:
    """Register ``view`` on every path, each also answering with one trailing slash when
    ``slash``.

    One rule per path (Werkzeug's ``strict_slashes=False`` takes the slash), so ``flask routes``
    lists each path once; a path ending in a ``<path:…>`` converter keeps a second rule, since
    that converter would swallow the slash into its value.
    """
    methods = list(methods)
    for path in paths:
        swallows = path.endswith(">") and "<path:" in path.rsplit("/", 1)[-1]
        variants = (path, path + "/") if slash and swallows else (path,)
        for rule in variants:
            bp.add_url_rule(
                rule,
                endpoint=view.__name__,
                view_func=view,
                methods=methods,
                provide_automatic_options=False,
                strict_slashes=not slash,
            )


def other_methods(allowed: Iterable[str]) -> list[str]:
    """The methods a route does not serve (to answer them with the protocol's 405)."""
    allowed = set(allowed) | ({"HEAD"} if "GET" in allowed else set())
    return [m for m in ALL_METHODS if m not in allowed]
