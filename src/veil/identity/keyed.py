"""Keyed identity functions: HMAC-SHA256 of the project secret and an original value.

Each function is pure: the same secret and input give the same output in every file, run, process and
machine, so workers need no shared table (DESIGN.md principle 3). Different purposes use different
HMAC domains, so a pseudonym never equals the UID or offset derived from the same value.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

_B32 = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # Crockford-like: no I, O, 0, 1 (read aloud safely)


@dataclass(frozen=True)
class Keyed:
    """The keyed functions of one project secret. Picklable; the secret never leaves the process's memory."""

    secret: bytes

    def digest(self, domain: str, value: str) -> bytes:
        return hmac.digest(self.secret, f"veil/{domain}\x00{value}".encode(), "sha256")  # one-shot C path

    def hexdigest(self, domain: str, value: str) -> str:
        return self.digest(domain, value).hex()

    def pseudonym(self, patient_key: str, *, prefix: str, length: int) -> str:
        """Pseudonymous patient code: prefix + `length` symbols of a 32-letter alphabet (5 bits each)."""
        n = int.from_bytes(self.digest("patient", patient_key), "big")
        chars = []
        for _ in range(length):
            n, r = divmod(n, 32)
            chars.append(_B32[r])
        return prefix + "".join(chars)

    def uid(self, original: str) -> str:
        """New UID under the UUID-derived root 2.25 (PS3.5 B.2): decimal of a 128-bit keyed hash.

        At most 2 + 1 + 39 = 42 characters, no leading zero in the component (an integer's decimal).
        """
        n = int.from_bytes(self.digest("uid", original.strip().rstrip("\x00"))[:16], "big")
        return f"2.25.{n}"

    def date_offset(self, patient_key: str, min_days: int, max_days: int) -> timedelta:
        """Per-patient shift: whole days in [min_days, max_days] plus 0..86399 s so time of day moves too."""
        h = self.digest("date-offset", patient_key)
        span = max_days - min_days + 1
        days = min_days + int.from_bytes(h[:8], "big") % span
        seconds = int.from_bytes(h[8:12], "big") % 86400
        return timedelta(days=days, seconds=seconds)

    def hash_value(self, value: str, length: int = 16) -> str:
        """Keyed hash for override action 'hash': same value, same code, not reversible without the key."""
        return self.hexdigest("value", value)[:length].upper()
