"""The Hue part of the OpenAPI document: bridge API v1 registration."""

from __future__ import annotations

from apispec import APISpec

from app.hue import contract
from app.hue import schemas as hue
from app.openapi import (
    Part,
    body,
    items,
    path_param,
    register,
    request_body,
)

# --- Hue ---------------------------------------------------------------------------------


_HUE_200 = "Always HTTP 200: the outcome is in the body."
_USERNAME = path_param(
    "username",
    "A whitelisted key (anything else: type 1, or the short config for `/config`).",
    type="string",
    pattern=hue.USERNAME_PATTERN,
)


def _hue(spec: APISpec) -> None:
    tags = ["hue"]
    spec.path(
        path="/api",
        operations={
            "post": {
                "tags": tags,
                "operationId": "hueCreateUser",
                "summary": "Register an application while the link button window is open",
                "description": (
                    "Validation errors come in one array in the bridge's order; the link check "
                    "(type 101) runs only when there is none. Other methods: type 4."
                ),
                "requestBody": request_body(hue.HueCreateUserRequestSchema),
                "responses": {
                    "200": body(
                        items(hue.HueCreatedItemSchema, contract.HueErrorSchema),
                        _HUE_200,
                        {
                            "created": [{"success": {"username": "burgestrand"}}],
                            "notPressed": [contract.link_button_not_pressed().item()],
                            "invalid": [
                                contract.invalid_value("/", "username", "burges").item(),
                                contract.invalid_json("/").item(),
                            ],
                        },
                    )
                },
            }
        },
    )
    short_example = {
        "name": "homepair",
        "datastoreversion": "126",
        "swversion": "1967054020",
        "apiversion": "1.67.0",
        "mac": "00:17:88:4a:15:15",
        "bridgeid": "001788FFFE4A1515",
        "factorynew": False,
        "replacesbridgeid": None,
        "modelid": "BSB002",
        "starterkitid": "",
    }
    spec.path(
        path="/api/config",
        operations={
            "get": {
                "tags": tags,
                "operationId": "hueShortConfig",
                "summary": "The unauthenticated config (apps read `bridgeid` here)",
                "responses": {
                    "200": body(hue.HueShortConfigSchema, _HUE_200, {"config": short_example})
                },
            }
        },
    )
    type1 = {"unauthorized": [contract.unauthorized("/").item()]}
    spec.path(
        path="/api/{username}",
        operations={
            "get": {
                "tags": tags,
                "operationId": "hueFullState",
                "summary": "Full state: the config between empty collections",
                "parameters": [_USERNAME],
                "responses": {
                    "200": body(
                        {"oneOf": [hue.HueFullStateSchema, items(contract.HueErrorSchema)]},
                        _HUE_200,
                        type1,
                    )
                },
            }
        },
    )
    spec.path(
        path="/api/{username}/config",
        operations={
            "get": {
                "tags": tags,
                "operationId": "hueConfig",
                "summary": "Full config for a whitelisted key, else the short config",
                "parameters": [_USERNAME],
                "responses": {
                    "200": body(
                        {"oneOf": [hue.HueFullConfigSchema, hue.HueShortConfigSchema]},
                        _HUE_200,
                        {"short": short_example},
                    )
                },
            },
            "put": {
                "tags": tags,
                "operationId": "hueUpdateConfig",
                "summary": "Press (true) or release (false) the virtual link button",
                "parameters": [_USERNAME],
                "requestBody": request_body(hue.HueConfigUpdateSchema),
                "responses": {
                    "200": body(
                        items(hue.HueLinkbuttonItemSchema, contract.HueErrorSchema),
                        _HUE_200 + " One result per body key, in body order.",
                        {
                            "pressed": [{"success": {"/config/linkbutton": True}}],
                            "unauthorized": [contract.unauthorized("/config").item()],
                        },
                    )
                },
            },
        },
    )
    spec.path(
        path="/api/{username}/{collection}",
        operations={
            "get": {
                "tags": tags,
                "operationId": "hueCollection",
                "summary": "Empty collections (Home Assistant polls them)",
                "parameters": [
                    _USERNAME,
                    path_param(
                        "collection", "Collection name.", type="string", enum=hue.COLLECTION_NAMES
                    ),
                ],
                "responses": {
                    "200": body(
                        {"oneOf": [hue.HueEmptySchema, items(contract.HueErrorSchema)]},
                        _HUE_200,
                        {"empty": {}},
                    )
                },
            }
        },
    )
    key = "1028d66426293e821ecfd9ef1a0731df"
    spec.path(
        path="/api/{username}/config/whitelist/{key}",
        operations={
            "delete": {
                "tags": tags,
                "operationId": "hueDeleteKey",
                "summary": "Remove a whitelisted key (any whitelisted app may remove any key)",
                "parameters": [_USERNAME, path_param("key", "The key to remove.", type="string")],
                "responses": {
                    "200": body(
                        items(hue.HueDeletedItemSchema, contract.HueErrorSchema),
                        _HUE_200,
                        {
                            "deleted": [{"success": f"/config/whitelist/{key} deleted"}],
                            "unknownKey": [
                                contract.resource_not_available(f"/config/whitelist/{key}").item()
                            ],
                        },
                    )
                },
            }
        },
    )
    spec.path(
        path="/description.xml",
        operations={
            "get": {
                "tags": tags,
                "operationId": "hueDescription",
                "summary": "UPnP description, addressed as the request was",
                "responses": {
                    "200": {
                        "description": "The bridge's description.",
                        "content": {"text/xml": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    )


register(
    Part(
        "hue",
        30,
        ({"name": "hue", "description": "Bridge API v1 registration; always HTTP 200."},),
        _hue,
    )
)
