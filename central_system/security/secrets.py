"""Randomness for the services (the domain takes entropy as input): password bytes, upload
tokens, OCPP request ids."""

from __future__ import annotations

import secrets


class SystemSecrets:
    """The Entropy, UploadTokens and RequestIds ports over the operating system's CSPRNG."""

    def random_bytes(self, count: int) -> bytes:
        return secrets.token_bytes(count)

    def url_token(self) -> str:
        return secrets.token_urlsafe(32)  # 43 characters, 256 bits

    def integer(self) -> int:
        return secrets.randbelow(2**31 - 2) + 1
