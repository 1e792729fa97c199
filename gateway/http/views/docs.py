"""``/``, ``/openapi.json`` and ``/docs``: the API described, browsable from bundled assets."""

from __future__ import annotations

from functools import cache
from importlib import metadata
from pathlib import Path

from aiohttp import web

from gateway.http.auth import public
from gateway.http.openapi import openapi_document
from gateway.http.problems import Problem

_ASSETS = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui-standalone-preset.js": "application/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>invoice-gateway API</title>
  <link rel="icon" href="/docs/assets/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});
  </script>
</body>
</html>
"""


def _assets_dir() -> Path:
    import swagger_ui_bundle  # type: ignore[import-untyped]

    return Path(swagger_ui_bundle.swagger_ui_path)


@cache
def gateway_version() -> str:
    """The installed package's version ("unknown" when run from a tree that is not installed)."""
    try:
        return metadata.version("invoice-gateway")
    except metadata.PackageNotFoundError:
        return "unknown"


@public
async def index(request: web.Request) -> web.Response:
    """``GET /``: where to go next, so that the first URL anyone tries is not a bare 404."""
    return web.json_response(
        {
            "name": "invoice-gateway",
            "version": gateway_version(),
            "docs": "/docs",
            "openapi": "/openapi.json",
            "health": "/healthz",
        }
    )


@public
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


@public
async def docs_page(request: web.Request) -> web.Response:
    return web.Response(text=_PAGE, content_type="text/html")


@public
async def docs_asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in _ASSETS:
        raise Problem("not_found", f"No documentation asset {name!r}.")
    return web.FileResponse(
        _assets_dir() / name,
        headers={"Content-Type": _ASSETS[name], "Cache-Control": "public, max-age=86400"},
    )
