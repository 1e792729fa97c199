"""``serve --sandbox --write-config FILE``: a configuration other commands can use as it is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from emulators.registry import PROVIDERS
from gateway.sandbox.serve import config_yaml
from gateway.settings_file import parse_settings
from tests.e2e.sandbox import sandbox_in_thread


def test_written_config_loads_and_points_at_the_running_emulators(tmp_path: Path) -> None:
    with sandbox_in_thread(seed_invoices=1) as sandbox:
        text = config_yaml(sandbox)
    assert "sk_sandbox" in text.splitlines()[1]  # the header says which key to use
    settings = parse_settings(text, "sandbox.yaml", {})
    assert [c.name for c in settings.connections] == list(PROVIDERS)
    for connection in settings.connections:
        assert connection.base_url == sandbox.emulator_urls[connection.name]
        assert connection.auth.secret() == f"sandbox-{connection.provider}"
    [client] = settings.clients
    assert client.scopes == {"invoices:read", "invoices:write", "admin"}
    written = tmp_path / "sandbox.yaml"
    written.write_text(text)
    script = str(Path(sys.executable).with_name("invoice-gateway"))
    result = subprocess.run(
        [script, "check-config", "--config", str(written)], capture_output=True, text=True
    )
    assert (result.returncode, result.stdout.strip()) == (
        0,
        f"{written}: OK (5 connection(s), 1 client(s))",
    )
