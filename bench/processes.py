"""What the benchmarks share to run the gateway's own processes: a free loopback port and the
``invoice-gateway`` command of this interpreter's environment."""

from __future__ import annotations

import socket
import sys
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def gateway_command() -> list[str]:
    """``invoice-gateway`` beside this interpreter (the venv's script), else the module."""
    script = Path(sys.executable).with_name("invoice-gateway")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gateway.cli"]
