"""Personal data at rest: Fernet encryption, keyed search hashes and masking.

Keys come from settings (`PII_ENCRYPTION_KEYS`, `PII_HASH_KEY`); in development, when they are
not set, keys are derived from SECRET_KEY so a fresh clone works without configuration.
"""

import base64
import hashlib
import hmac
import re
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    keys = list(settings.PII_ENCRYPTION_KEYS)
    if not keys:
        digest = hashlib.sha256(("pii-encryption:" + settings.SECRET_KEY).encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def _hash_key() -> bytes:
    key = settings.PII_HASH_KEY or ("pii-hash:" + settings.SECRET_KEY)
    return key.encode()


def encrypt(plain: str) -> str:
    """Encrypt a string for storage; the result is ASCII and differs on every call."""
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def search_hash(value: str) -> str:
    """Keyed, deterministic hash (HMAC-SHA256, hex) used to find a record by an encrypted value."""
    normalised = value.strip().upper()
    return hmac.new(_hash_key(), normalised.encode(), hashlib.sha256).hexdigest()


def mask_identifier(value: str, keep_start: int = 4, keep_end: int = 4) -> str:
    """`110101199003074578` -> `1101**********4578`; short values keep fewer characters."""
    value = (value or "").strip()
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]


def mask_phone(value: str) -> str:
    """`13812345678` -> `138****5678`."""
    return mask_identifier(value, keep_start=3, keep_end=4)


# 18-character PRC resident ID numbers and 15-19 digit card numbers anywhere in free text.
_ID_PATTERN = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")
_CARD_PATTERN = re.compile(r"(?<!\d)(\d{4})\d{7,11}(\d{4})(?!\d)")


def mask_text(text: str) -> str:
    """Mask every ID-like or card-like number in free text (used by the log filter)."""
    text = _ID_PATTERN.sub(lambda m: m.group(1)[:4] + "*" * 10 + m.group(3)[-4:], text)
    return _CARD_PATTERN.sub(lambda m: m.group(1) + "*" * 8 + m.group(2), text)
