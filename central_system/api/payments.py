"""Payment provider adapters. `TestPaymentProvider` is built in: tokenized test cards such as
`tok_visa` or `tok_mastercard` are accepted, `tok_declined` (and the other names in DECLINED)
are refused. It keeps holds in memory but derives every reference from the idempotency key, so
a capture repeated after a restart finds the same reference and changes nothing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal

from central_system.services.ports import PaymentDeclined, PaymentHold

DECLINED = frozenset({"tok_declined", "tok_chargeDeclined", "tok_insufficient_funds"})
_TOKEN = re.compile(r"^tok_[A-Za-z0-9_]{1,40}$")


def _ref(prefix: str, key: str) -> str:
    return prefix + hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass
class _Hold:
    amount: Decimal
    currency: str
    captured: Decimal | None = None
    released: bool = False


class TestPaymentProvider:
    """A card processor for tests and the demo (never charges anything)."""

    __test__ = False  # not a pytest test class
    name = "test"

    def __init__(self) -> None:
        self.holds: dict[str, _Hold] = {}
        self._captures: dict[str, str] = {}

    async def preauthorize(
        self, card_token: str, amount: Decimal, currency: str, *, idempotency_key: str
    ) -> PaymentHold:
        if not _TOKEN.match(card_token):
            raise PaymentDeclined("not a tokenized card (expected e.g. tok_visa)")
        if card_token in DECLINED:
            raise PaymentDeclined("card declined")
        if amount <= 0:
            raise PaymentDeclined("the amount must be positive")
        reference = _ref("pi_test_", idempotency_key)
        self.holds.setdefault(reference, _Hold(amount, currency))
        return PaymentHold(reference, amount, currency)

    async def capture(self, reference: str, amount: Decimal, *, idempotency_key: str) -> str:
        if idempotency_key in self._captures:
            return self._captures[idempotency_key]
        if not reference.startswith("pi_test_"):
            raise PaymentDeclined(f"unknown payment {reference}")
        hold = self.holds.get(reference)
        if hold is not None:
            if hold.released:
                raise PaymentDeclined("the hold was released")
            if amount > hold.amount:
                raise PaymentDeclined("more than the authorized amount")
            hold.captured = amount
        charge = _ref("ch_test_", idempotency_key)
        self._captures[idempotency_key] = charge
        return charge

    async def release(self, reference: str, *, idempotency_key: str) -> None:
        hold = self.holds.get(reference)
        if hold is not None and hold.captured is None:
            hold.released = True
