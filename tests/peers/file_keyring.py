"""A keyring backend for tests: secrets from a JSON file named by $TLSRPT_TEST_KEYRING_FILE.

A subprocess run of the real CLI selects it with ``PYTHON_KEYRING_BACKEND=
peers.file_keyring.FileKeyring`` (``tests`` on PYTHONPATH), so the product reads its password
through the keyring package exactly as it would from the desktop keyring.
"""

from __future__ import annotations

import json
import os

from keyring.backend import KeyringBackend


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def _data(self) -> dict[str, str]:
        path = os.environ.get("TLSRPT_TEST_KEYRING_FILE", "")
        try:
            with open(path, encoding="utf-8") as f:
                return dict(json.load(f))
        except (OSError, ValueError):
            return {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._data().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise NotImplementedError("read-only test keyring")

    def delete_password(self, service: str, username: str) -> None:
        raise NotImplementedError("read-only test keyring")
