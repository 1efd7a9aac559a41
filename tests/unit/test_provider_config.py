"""config/mitto.example.toml: the provider's starting point passes check-config.

Only check-config runs here: nothing in the tests connects to smpp.mitto.ch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "mitto.example.toml"


def check_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMPP_GATEWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", str(EXAMPLE)],
        env={**clean, **env}, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


def test_mitto_example_passes_check_config_with_its_secrets_in_the_environment(tmp_path):
    keys = tmp_path / "api-keys"
    keys.write_text("caller-key-1\n")
    done = check_config(
        {"SMPP_GATEWAY_SMPP_PASSWORD": "pw345678", "SMPP_GATEWAY_HTTP_API_KEYS_FILE": str(keys)}
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"ok: {EXAMPLE}\n", "")


def test_mitto_example_says_what_the_provider_documents():
    smpp = tomllib.loads(EXAMPLE.read_text())["smpp"]
    assert smpp["host"] == "smpp.mitto.ch"
    assert (smpp["sessions"], smpp["bind_mode"]) == (4, "transceiver")
    assert smpp["registered_delivery"] == 1
    assert smpp["tls"] is True
    assert "password" not in smpp and "password_file" not in smpp  # from the environment
    text = EXAMPLE.read_text()
    assert "REPLACE: each customer has a port of its own" in text
    assert "set sessions = 2" in text  # transmitter_receiver uses two binds per session


def test_mitto_example_without_api_keys_is_refused():
    done = check_config({"SMPP_GATEWAY_SMPP_PASSWORD": "pw345678"})
    assert done.returncode == 1
    assert done.stderr.startswith("http.api_keys: API keys required")
