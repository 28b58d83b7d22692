"""Keyed identity functions: HMAC-SHA256 of the project secret and an original value.

Each function is pure: the same secret and input give the same output in every file, run, process and
machine, so workers need no shared table (DESIGN.md principle 3). Different purposes use different
HMAC domains, so a pseudonym never equals the UID or offset derived from the same value.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

_B32 = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # Crockford-like: no I, O, 0, 1 (read aloud safely)


@dataclass(frozen=True)
class Keyed:
    """The keyed functions of one project secret. Picklable; the secret never leaves the process's memory."""

    secret: bytes
    _pads: tuple[Any, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # HMAC (RFC 2104) with its two keyed SHA-256 states made once: each digest is then two copies and
        # two short updates. hmac.digest() looks the algorithm up in OpenSSL's provider tables on every
        # call, which cost ~9 us in a busy worker (several calls per file).
        key = self.secret if len(self.secret) <= 64 else hashlib.sha256(self.secret).digest()
        key = key.ljust(64, b"\0")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        object.__setattr__(self, "_pads", (inner, outer))

    def __getstate__(self) -> dict[str, bytes]:
        return {"secret": self.secret}

    def __setstate__(self, state: dict[str, bytes]) -> None:
        object.__setattr__(self, "secret", state["secret"])
        self.__post_init__()

    def digest(self, domain: str, value: str) -> bytes:
        """HMAC-SHA256(secret, "veil/<domain>\\0<value>")."""
        inner, outer = self._pads[0].copy(), self._pads[1].copy()
        inner.update(f"veil/{domain}\x00{value}".encode("utf-8", "surrogatepass"))  # any str: file names too
        outer.update(inner.digest())
        return outer.digest()  # type: ignore[no-any-return]

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
