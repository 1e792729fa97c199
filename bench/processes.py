"""What the benchmarks share to run the gateway's own processes: a free loopback port, the
``invoice-gateway`` command of this interpreter's environment, and its configuration file."""

from __future__ import annotations

import hashlib
import socket
import sys
from pathlib import Path
from typing import Any

import yaml

from gateway.sandbox import default_token, sandbox_connection


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def gateway_command() -> list[str]:
    """``invoice-gateway`` beside this interpreter (the venv's script), else the module."""
    script = Path(sys.executable).with_name("invoice-gateway")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gateway.cli"]


def bench_connection(name: str, provider: str, url: str) -> dict[str, Any]:
    """Connection ``name`` to the emulator at ``url``, as the sandbox configures ``provider``,
    without its rate limit (a benchmark measures the gateway, not the pacing)."""
    connection = sandbox_connection(provider, url).model_dump(mode="json", exclude_none=True)
    connection["name"] = name
    connection["auth"]["token"] = default_token(provider)
    connection.pop("rate_limit", None)
    return connection


def write_gateway_config(
    path: Path,
    connections: list[dict[str, Any]],
    store_url: str,
    *,
    level: str = "warning",
    api_key: str | None = None,
    scopes: tuple[str, ...] = ("invoices:read",),
) -> None:
    """The gateway's configuration file; ``api_key``: one client with it, on every connection."""
    config: dict[str, Any] = {
        "store": {"url": store_url},
        "logging": {"level": level, "format": "json"},
    }
    if api_key is not None:
        config["clients"] = [
            {
                "name": "bench",
                "key_sha256": hashlib.sha256(api_key.encode()).hexdigest(),
                "connections": ["*"],
                "scopes": list(scopes),
            }
        ]
    config["connections"] = connections
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
