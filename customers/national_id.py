"""National ID numbers: validation by type, and for PRC resident IDs the GB 11643-1999 check digit.

Pure module (no Django import) so scoring's knock-out rules can reuse it. Messages are English
msgids marked with `gettext_noop`; callers translate `error.template % error.params` for display.

An 18-character PRC resident ID is `RRRRRR YYYYMMDD SSS C`:
- `RRRRRR` the region where it was issued (first two digits: province-level code),
- `YYYYMMDD` the date of birth,
- `SSS` a sequence number whose last digit is odd for men and even for women,
- `C` the check digit: sum(digit_i * weight_i) mod 11 mapped through "10X98765432".
Residence permits for Hong Kong, Macau and Taiwan residents use the same layout with region
codes 81, 82 and 83.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

PRC_RESIDENT_ID = "prc_resident_id"
PASSPORT = "passport"
HK_MACAU_PERMIT = "hk_macau_permit"
TAIWAN_PERMIT = "taiwan_permit"
FOREIGN_PERMANENT_ID = "foreign_permanent_id"
ID_TYPES = (PRC_RESIDENT_ID, PASSPORT, HK_MACAU_PERMIT, TAIWAN_PERMIT, FOREIGN_PERMANENT_ID)

CHECK_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"

# Province-level codes (GB/T 2260) that can start a resident ID; 81-83: HK/Macau/Taiwan residence permits.
PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 "
    "71 81 82 83".split()
)
EARLIEST_BIRTH_DATE = date(1900, 1, 1)

# Formats of the other documents, after normalisation (upper case, no spaces or hyphens).
_FORMATS = {
    # Passports differ by country: 6-12 letters and digits, at least one digit.
    PASSPORT: re.compile(r"(?=.*\d)[A-Z0-9]{6,12}"),
    # Mainland Travel Permit for Hong Kong and Macau Residents (回乡证): H or M + 8 (or 10) digits.
    HK_MACAU_PERMIT: re.compile(r"[HM]\d{8}(\d{2})?"),
    # Mainland Travel Permit for Taiwan Residents (台胞证): 8 digits (older cards 10 with letters).
    TAIWAN_PERMIT: re.compile(r"\d{8}|\d{10}|[A-Z]\d{9}"),
    # Foreign Permanent Resident ID: old 15-character format (3 letters + 12 digits); the 2023
    # 18-character format starts with 9 and carries a GB 11643 check digit (checked below).
    FOREIGN_PERMANENT_ID: re.compile(r"[A-Z]{3}\d{12}|9\d{16}[\dX]"),
}
_FORMAT_HINTS = {
    PASSPORT: "6 to 12 letters and digits",
    HK_MACAU_PERMIT: "H or M followed by 8 or 10 digits",
    TAIWAN_PERMIT: "8 or 10 digits",
    FOREIGN_PERMANENT_ID: "3 letters and 12 digits, or 18 characters starting with 9",
}


def gettext_noop(message: str) -> str:
    """Mark a message for translation without translating it here (the caller translates)."""
    return message


class NationalIdError(ValueError):
    """The number is not valid for its type. `code` says which rule failed."""

    def __init__(self, code: str, template: str, params: dict | None = None):
        self.code = code
        self.template = template
        self.params = params or {}
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return self.template % self.params


@dataclass(frozen=True)
class ResidentId:
    """What a valid PRC resident ID number says about its holder."""

    number: str
    region_code: str
    birth_date: date
    sex: str  # "male" or "female"


def normalise(number: str) -> str:
    """Upper-case and drop spaces and hyphens: ` 1101 0119-9003 07457x` -> `11010119900307457X`."""
    return re.sub(r"[\s\-]", "", number or "").upper()


def check_character(first_17_digits: str) -> str:
    """GB 11643-1999 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first_17_digits, CHECK_WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def parse_resident_id(number: str, *, today: date | None = None) -> ResidentId:
    """Validate an 18-character PRC resident ID number and return its region, birth date and sex.

    Raises NationalIdError with code `length`, `characters`, `region`, `birth_date` or
    `check_digit`, in that order of checking.
    """
    value = normalise(number)
    if len(value) != 18:
        raise NationalIdError(
            "length", gettext_noop("A resident ID number has 18 characters; this one has %(count)s."),
            {"count": len(value)},
        )
    if not re.fullmatch(r"\d{17}[\dX]", value):
        raise NationalIdError(
            "characters", gettext_noop("A resident ID number is 17 digits followed by a digit or X."),
        )
    if value[:2] not in PROVINCE_CODES or value[2:6] == "0000":
        raise NationalIdError(
            "region", gettext_noop("The first six digits (%(region)s) are not a valid region code."),
            {"region": value[:6]},
        )
    try:
        birth_date = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        birth_date = None
    today = today or date.today()
    if birth_date is None or not EARLIEST_BIRTH_DATE <= birth_date <= today:
        raise NationalIdError(
            "birth_date", gettext_noop("Digits 7 to 14 (%(digits)s) are not a valid date of birth."),
            {"digits": value[6:14]},
        )
    if check_character(value[:17]) != value[17]:
        raise NationalIdError(
            "check_digit", gettext_noop("The last character does not match the check digit; please check the number."),
        )
    sex = "male" if int(value[16]) % 2 else "female"
    return ResidentId(number=value, region_code=value[:6], birth_date=birth_date, sex=sex)


def validate_id_number(id_type: str, number: str, *, today: date | None = None) -> str:
    """Return the normalised number if it is valid for `id_type`; raise NationalIdError otherwise."""
    value = normalise(number)
    if not value:
        raise NationalIdError("required", gettext_noop("Enter the ID number."))
    if id_type == PRC_RESIDENT_ID:
        return parse_resident_id(value, today=today).number
    pattern = _FORMATS.get(id_type)
    if pattern is None:
        raise NationalIdError("id_type", gettext_noop("Unknown ID type %(id_type)s."), {"id_type": id_type})
    if not pattern.fullmatch(value):
        raise NationalIdError(
            "format", gettext_noop("This does not look like a valid number for this ID type (expected %(hint)s)."),
            {"hint": _FORMAT_HINTS[id_type]},
        )
    if id_type == FOREIGN_PERMANENT_ID and len(value) == 18 and check_character(value[:17]) != value[17]:
        raise NationalIdError(
            "check_digit", gettext_noop("The last character does not match the check digit; please check the number."),
        )
    return value


def make_resident_id(*, region_code: str, birth_date: date, sequence: int, sex: str) -> str:
    """Build a valid resident ID (demo data and tests). `sequence` 0-99 picks the first two sequence digits."""
    sex_digit = (sequence % 5) * 2 + (1 if sex == "male" else 0)
    first_17 = f"{region_code}{birth_date:%Y%m%d}{sequence % 100:02d}{sex_digit}"
    return first_17 + check_character(first_17)
