"""The encrypted local secret store behind ``secret:NAME`` references (``goodstanding secrets``).

One JSON file (``GOODSTANDING_SECRETS_FILE``, default ``goodstanding.secrets`` in the working
directory) holds each secret encrypted with AES-256-GCM from the ``cryptography`` package:
authenticated encryption, a fresh 96-bit nonce per value, the secret's name bound in as
associated data (a value copied under another name does not decrypt). The 256-bit key is
derived with scrypt from ``GOODSTANDING_MASTER_KEY`` and a random salt kept in the file; the
master key itself is never stored. Nothing here is home-made crypto: the primitives and their
parameters are the library's.

Besides the value, an entry keeps what rotation needs (the upstream key's id at OpenAI, when it
was made), never secret itself.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from goodstanding.errors import ConfigError

MASTER_ENV = "GOODSTANDING_MASTER_KEY"
FILE_ENV = "GOODSTANDING_SECRETS_FILE"
DEFAULT_FILE = "goodstanding.secrets"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_MASTER = 16
_DERIVED: dict[tuple[bytes, str], bytes] = {}


def store_path(env: Mapping[str, str]) -> Path:
    return Path(env.get(FILE_ENV) or DEFAULT_FILE)


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    except ImportError:
        raise ConfigError("the encrypted secret store needs the cryptography package: "
                          "pip install 'goodstanding[secrets]'") from None
    return AESGCM, Scrypt


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class SecretStore:
    """Read and write one store file; every method re-reads it (the file is small)."""

    def __init__(self, path: Path, master: str | None) -> None:
        self.path = path
        self._master = master
        self._key: tuple[bytes, bytes] | None = None  # (salt, derived key)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SecretStore:
        return cls(store_path(env), env.get(MASTER_ENV))

    def _document(self) -> dict[str, Any]:
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"version": 1, "salt": _b64(os.urandom(16)), "secrets": {}}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"secret store {self.path} is unreadable: "
                              f"{getattr(exc, 'strerror', None) or 'not JSON'}") from None
        if not isinstance(document, dict) or document.get("version") != 1:
            raise ConfigError(f"secret store {self.path} is not a goodstanding secret store")
        return document

    def _aead(self, salt_b64: str) -> Any:
        aesgcm, scrypt = _crypto()
        if not self._master or len(self._master) < MIN_MASTER:
            raise ConfigError(f"{MASTER_ENV} must be set (at least {MIN_MASTER} characters) to "
                              "use the secret store")
        salt = base64.b64decode(salt_b64)
        if self._key is None or self._key[0] != salt:
            derived = _DERIVED.get((salt, self._master))
            if derived is None:  # scrypt is slow on purpose: once per process and salt
                derived = scrypt(salt=salt, length=32, **_SCRYPT).derive(self._master.encode())
                _DERIVED.clear()
                _DERIVED[(salt, self._master)] = derived
            self._key = (salt, derived)
        return aesgcm(self._key[1])

    def names(self) -> dict[str, dict[str, Any]]:
        """Name → metadata (updated_at, key_id, …); never values."""
        return {name: {k: v for k, v in entry.items() if k not in ("nonce", "value")}
                for name, entry in self._document()["secrets"].items()}

    def get(self, name: str) -> str | None:
        document = self._document()
        entry = document["secrets"].get(name)
        if entry is None:
            return None
        aead = self._aead(document["salt"])
        try:
            from cryptography.exceptions import InvalidTag

            plain = aead.decrypt(base64.b64decode(entry["nonce"]),
                                 base64.b64decode(entry["value"]), name.encode())
        except InvalidTag:
            raise ConfigError(f"secret {name} does not decrypt: wrong {MASTER_ENV}, or the "
                              "store was altered") from None
        return plain.decode()

    def put(self, name: str, value: str, **meta: Any) -> None:
        if not value:
            raise ValueError("an empty secret")
        document = self._document()
        aead = self._aead(document["salt"])
        nonce = os.urandom(12)
        sealed = aead.encrypt(nonce, value.encode(), name.encode())
        document["secrets"][name] = {"nonce": _b64(nonce), "value": _b64(sealed),
                                     "updated_at": time.time(), **meta}
        self._write(document)

    def delete(self, name: str) -> bool:
        document = self._document()
        if document["secrets"].pop(name, None) is None:
            return False
        self._write(document)
        return True

    def _write(self, document: dict[str, Any]) -> None:
        """Atomically (rename), readable by its owner only."""
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(document, out, indent=1)
        os.replace(tmp, self.path)
