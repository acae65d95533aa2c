"""Station password hashes (security profiles 1 and 2): salted argon2id.

Verification runs in a worker thread (it is deliberately slow) and a successful check is
remembered for the process's life, keyed by the hash and a SHA-256 of the password, so that a
station reconnecting does not cost another argon2 run.
"""

from __future__ import annotations

import asyncio
import hashlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# Station passwords are machine secrets of 16-40 characters: moderate parameters suffice.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


class Argon2PasswordHasher:
    def __init__(self) -> None:
        self._verified: set[tuple[str, bytes]] = set()

    def hash(self, password: str) -> str:
        return _HASHER.hash(password)

    async def verify(self, password_hash: str, password: str) -> bool:
        key = (password_hash, hashlib.sha256(password.encode()).digest())
        if key in self._verified:
            return True
        ok = await asyncio.to_thread(self._verify, password_hash, password)
        if ok:
            self._verified.add(key)
        return ok

    @staticmethod
    def _verify(password_hash: str, password: str) -> bool:
        try:
            return _HASHER.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
