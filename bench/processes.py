"""What the benchmarks share to run the gateway's own processes: a free loopback port, the
``invoice-gateway`` command of this interpreter's environment, and its configuration file."""

from __future__ import annotations

import argparse
import hashlib
import socket
import sys
from datetime import date, timedelta
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


def five_line_create(first: dict[str, Any]) -> dict[str, Any]:
    """The create body the benches send: five lines like ``first``'s (an invoice as the API
    answers it; a provider's required references kept: item ids, taxes), dated today; fields the
    provider cannot carry are dropped under lenient handling."""
    lines = [line for line in first["lines"] if line.get("kind", "item") == "item"] or [{}]
    kept = ("item_id", "name", "description", "unit", "taxes", "provider_fields")
    return {
        "customer": {"id": first["customer"]["id"]},
        "currency": first["currency"],
        "issue_date": date.today().isoformat(),
        "due_date": (date.today() + timedelta(days=30)).isoformat(),
        "lines": [
            {
                **{k: lines[i % len(lines)][k] for k in kept if lines[i % len(lines)].get(k)},
                "quantity": "2",
                "unit_price": "10.50",
            }
            for i in range(5)
        ],
    }


def positive(text: str) -> int:
    """An argparse type: a whole number of 1 or more, else a usage error naming it."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} is not above 0")
    return value
