"""Typed application keys: everything the app holds, declared in one place."""

from __future__ import annotations

from aiohttp import web

from gateway.config import Client, Settings
from gateway.keyring import KeyRing

SETTINGS = web.AppKey("settings", Settings)
REQUEST_ID = web.RequestKey("request_id", str)
CALLER = web.RequestKey("caller", Client)
KEYRING = web.AppKey("keyring", KeyRing)
