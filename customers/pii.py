"""Personal data at rest: Fernet encryption, keyed search hashes and masking.

Keys come from settings (`PII_ENCRYPTION_KEYS`, `PII_HASH_KEY`); in development, when they are
not set, keys are derived from SECRET_KEY so a fresh clone works without configuration.

One key ring (MultiFernet over `PII_ENCRYPTION_KEYS`) encrypts ID numbers and document files: the
first key encrypts, every key decrypts, so keys rotate (`manage.py rotate_pii_keys` re-encrypts
what an older key wrote).
"""

import base64
import hashlib
import hmac
import re
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed

from customers.national_id import check_character


@lru_cache(maxsize=1)
def _fernets() -> tuple[Fernet, ...]:
    keys = list(settings.PII_ENCRYPTION_KEYS)
    if not keys:
        digest = hashlib.sha256(("pii-encryption:" + settings.SECRET_KEY).encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return tuple(Fernet(k.encode() if isinstance(k, str) else k) for k in keys)


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    return MultiFernet(list(_fernets()))


def _keys_changed(*, setting: str, **kwargs) -> None:
    """Tests (override_settings) and key rotation in a running shell see the new key ring."""
    if setting in ("PII_ENCRYPTION_KEYS", "SECRET_KEY"):
        _fernets.cache_clear()
        _fernet.cache_clear()


setting_changed.connect(_keys_changed, dispatch_uid="customers.pii.keys_changed")


def _hash_key() -> bytes:
    key = settings.PII_HASH_KEY or ("pii-hash:" + settings.SECRET_KEY)
    return key.encode()


def encrypt(plain: str) -> str:
    """Encrypt a string for storage; the result is ASCII and differs on every call."""
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def _is_current(token: bytes) -> bool:
    """Whether the first (current) key wrote the token."""
    try:
        _fernets()[0].decrypt(token)
    except InvalidToken:
        return False
    return True


def reencrypt(token: str) -> str | None:
    """The token encrypted with the current key, or None when it already is (rotation).
    Raises InvalidToken when no key of the ring opens it."""
    if _is_current(token.encode()):
        return None
    return _fernet().rotate(token.encode()).decode()


# --- Files (customer documents) ---------------------------------------------------------------------

# Every encrypted document file starts with this line, then the Fernet token. Uploads are PDF, JPEG
# or PNG checked by their magic bytes, so a plain file never starts with it: a file without it is
# one stored before documents were encrypted, read as it is until `rotate_pii_keys` encrypts it.
FILE_HEADER = b"FIENC1\n"


def encrypt_file(plain: bytes) -> bytes:
    """The bytes to store for a document: header + Fernet token (current key)."""
    return FILE_HEADER + _fernet().encrypt(plain)


def is_encrypted_file(stored: bytes) -> bool:
    return stored.startswith(FILE_HEADER)


def decrypt_file(stored: bytes) -> bytes:
    """The plain document from the stored bytes: decrypted with any key of the ring, or the bytes
    as they are for a legacy file stored unencrypted. Raises InvalidToken for a file no key opens
    (tampered, or its key was removed from the ring)."""
    if not is_encrypted_file(stored):
        return stored
    return _fernet().decrypt(stored[len(FILE_HEADER):])


def reencrypt_file(stored: bytes) -> bytes | None:
    """The stored bytes re-encrypted with the current key; a legacy plain file encrypted. None when
    the file is already encrypted with the current key."""
    if not is_encrypted_file(stored):
        return encrypt_file(stored)
    token = stored[len(FILE_HEADER):]
    if _is_current(token):
        return None
    return FILE_HEADER + _fernet().rotate(token)


# --- Search hash ------------------------------------------------------------------------------------

def search_hash(value: str) -> str:
    """Keyed, deterministic hash (HMAC-SHA256, hex) used to find a record by an encrypted value."""
    normalised = value.strip().upper()
    return hmac.new(_hash_key(), normalised.encode(), hashlib.sha256).hexdigest()



# --- Masking ----------------------------------------------------------------------------------------

def mask_identifier(value: str, keep_start: int = 4, keep_end: int = 4) -> str:
    """`110101199003074578` -> `1101**********4578`; short values keep fewer characters."""
    value = (value or "").strip()
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]


def mask_phone(value: str) -> str:
    """`13812345678` -> `138****5678`; `+8613812345678` -> `+86138****5678`."""
    value = (value or "").strip()
    prefix = ""
    match = re.fullmatch(r"(\+?86[\s-]?)(1\d{10})", value)
    if match:
        prefix, value = match.groups()
    return prefix + mask_identifier(value, keep_start=3, keep_end=4)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of payment card numbers."""
    total = 0
    for position, character in enumerate(reversed(digits)):
        digit = int(character)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def is_resident_id(value: str) -> bool:
    """18 characters whose last is the GB 11643 check character of the first 17 digits."""
    value = value.upper()
    return bool(re.fullmatch(r"\d{17}[\dX]", value)) and check_character(value[:17]) == value[17]


# A number stands alone: no digit (or decimal point after a digit) right before it, no digit (or
# decimal part) right after it, so "succeeded in 0.0223484928173452s" is a number, not a card.
_BEFORE = r"(?<!\d)(?<!\d\.)"
_AFTER = r"(?![\dXx])(?!\.\d)"
_ID_PATTERN = re.compile(_BEFORE + r"(\d{17}[\dXx])" + _AFTER)
# Card numbers: 15-19 digits, together or in groups of four separated by a space or hyphen.
_CARD_PATTERN = re.compile(_BEFORE + r"(\d{15,19}|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,4})?)" + _AFTER)
# Mobile numbers of mainland China, with or without +86.
_PHONE_PATTERN = re.compile(r"(?<![\d+])(?<!\d\.)((?:\+?86[\s-]?)?1[3-9]\d{9})" + _AFTER)


def _mask_id(match: re.Match) -> str:
    value = match.group(1)
    return mask_identifier(value) if is_resident_id(value) else value


def _mask_card(match: re.Match) -> str:
    value = match.group(1)
    digits = re.sub(r"\D", "", value)
    if not 15 <= len(digits) <= 19 or not luhn_valid(digits):
        return value
    return digits[:4] + "*" * 8 + digits[-4:]


def mask_text(text: str) -> str:
    """Mask the ID numbers (valid GB 11643 check character), card numbers (valid Luhn check) and
    mainland mobile numbers in free text (the log filter, audit data, console SMS); other numbers
    (timings, amounts, ids, references that fail the checks) stay as they are."""
    if not any(character.isdigit() for character in text):
        return text
    text = _ID_PATTERN.sub(_mask_id, text)
    text = _CARD_PATTERN.sub(_mask_card, text)
    return _PHONE_PATTERN.sub(lambda m: mask_phone(m.group(1)), text)
