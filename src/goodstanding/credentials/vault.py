"""``vault:PATH#FIELD`` references: a secret read from HashiCorp Vault's KV v2 engine (hvac).

An optional extra (``pip install 'goodstanding[vault]'``). The address and token come from
``VAULT_ADDR`` and ``VAULT_TOKEN`` (hvac's own variables), the engine's mount from
``VAULT_KV_MOUNT`` (default ``secret``); ``FIELD`` defaults to ``value``. Read at start-up and
again on SIGHUP (``credentials/keyring.py``); Vault is not polled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from goodstanding.errors import ConfigError


def read(spec: str, env: Mapping[str, str], where: str) -> str | None:
    try:
        import hvac
        import requests
    except ImportError:
        raise ConfigError(f"{where}: vault: references need hvac: "
                          "pip install 'goodstanding[vault]'") from None
    path, _, field = spec.partition("#")
    field = field or "value"
    client = hvac.Client(url=env.get("VAULT_ADDR"), token=env.get("VAULT_TOKEN"), timeout=10)
    try:
        answer: Any = client.secrets.kv.v2.read_secret_version(
            path=path, mount_point=env.get("VAULT_KV_MOUNT", "secret"),
            raise_on_deleted_version=True)
    except hvac.exceptions.VaultError as exc:
        raise ConfigError(f"{where}: Vault refused to read {path} ({type(exc).__name__})") \
            from None
    except requests.RequestException as exc:
        raise ConfigError(f"{where}: Vault is unreachable ({type(exc).__name__})") from None
    data = (answer or {}).get("data", {}).get("data", {})
    value = data.get(field) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: Vault secret {path} has no field {field}")
    return value
