"""The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, the last a check
character computed from the first 17. Pure: no Django import."""

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # 3**i mod 31
LENGTH = 18


def uscc_check_char(first17: str) -> str:
    """The check character for the first 17 characters (ValueError for a character outside the alphabet)."""
    if len(first17) != LENGTH - 1:
        raise ValueError("17 characters expected")
    total = 0
    for char, weight in zip(first17, WEIGHTS, strict=True):
        value = ALPHABET.find(char)
        if value < 0:
            raise ValueError(f"invalid character {char!r}")
        total += value * weight
    return ALPHABET[(31 - total % 31) % 31]


def uscc_normalise(code: str) -> str:
    return (code or "").strip().upper()


def uscc_problem(code: str) -> str | None:
    """Why `code` is not a valid unified social credit code ("length", "character", "check"), or None."""
    code = uscc_normalise(code)
    if len(code) != LENGTH:
        return "length"
    if any(char not in ALPHABET for char in code):
        return "character"
    if uscc_check_char(code[:17]) != code[17]:
        return "check"
    return None
