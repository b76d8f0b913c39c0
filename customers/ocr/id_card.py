"""Parse the text an OCR engine found on a PRC resident ID card into the card's fields.

Pure module (no Django): input is a list of `TextBox` (the text, the engine's confidence 0-1 and the
box's corner points in pixels), output a `CardReading`: the fields, a confidence per field (the lowest
confidence of the boxes it was read from), and for an image that is not a readable card an error code
and an English message marked with `gettext_noop` (the caller translates it for display).

Front: 姓名, 性别, 民族, 出生 (年月日), 住址 (one to three lines), 公民身份号码 (18 characters, the last a
digit or X). The ID number must pass the GB 11643 check (customers.national_id); the usual OCR
confusions (O/D/Q for 0, I/l/| for 1, Z for 2, S for 5, B for 8) are repaired only when the repaired
number then passes the check. Back: 签发机关 and 有效期限 (`YYYY.MM.DD-YYYY.MM.DD` or `...-长期`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date
from statistics import median

from customers.national_id import NationalIdError, parse_resident_id

FRONT, BACK = "front", "back"

NOT_AN_ID_CARD = "not_an_id_card"
NO_TEXT = "no_text"
UNREADABLE = "unreadable"
WRONG_SIDE = "wrong_side"


def gettext_noop(message: str) -> str:
    """Mark a message for translation without translating it here (the caller translates)."""
    return message


MESSAGES = {
    NOT_AN_ID_CARD: gettext_noop("This does not look like an ID card: we found neither its labels nor an ID number. "
                                 "Please upload a photo of your resident ID card."),
    NO_TEXT: gettext_noop("We could not read any text in this photo. Please upload a sharper photo of the card "
                          "(flat, in good light, the whole card in the picture)."),
    UNREADABLE: gettext_noop("We could not read the ID number clearly. Please upload a sharper photo of the card "
                             "(flat, in good light, the whole card in the picture)."),
    "unreadable_back": gettext_noop("We could not read the validity dates on the back of the card. Please upload a "
                                    "sharper photo of the back."),
    WRONG_SIDE: gettext_noop("This looks like the other side of the ID card. Please check which side you uploaded."),
}


@dataclass(frozen=True)
class TextBox:
    text: str
    confidence: float
    points: tuple[tuple[float, float], ...] = ()  # four corners, clockwise from top left


@dataclass
class CardReading:
    side: str
    fields: dict = field(default_factory=dict)  # JSON-ready: dates as ISO strings
    confidence: dict = field(default_factory=dict)
    error_code: str = ""
    error_message: str = ""

    @property
    def ok(self) -> bool:
        return not self.error_code


# --- Lines from boxes ------------------------------------------------------------------------------

@dataclass
class _Line:
    boxes: list
    y: float

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.boxes)

    @property
    def confidence(self) -> float:
        return min((b.confidence for b in self.boxes), default=0.0)


def _centre(box: TextBox) -> tuple[float, float]:
    if not box.points:
        return 0.0, 0.0
    return sum(p[0] for p in box.points) / len(box.points), sum(p[1] for p in box.points) / len(box.points)


def _height(box: TextBox) -> float:
    if len(box.points) < 4:
        return 1.0
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = box.points[:4]
    return max(math.hypot(x3 - x0, y3 - y0), math.hypot(x2 - x1, y2 - y1), 1.0)


def _skew(boxes: list[TextBox]) -> float:
    """The card's tilt (radians): the median slope of the wider boxes' top edges."""
    angles = []
    for box in boxes:
        if len(box.points) >= 2:
            (x0, y0), (x1, y1) = box.points[0], box.points[1]
            if x1 - x0 > 2 * _height(box):
                angles.append(math.atan2(y1 - y0, x1 - x0))
    return median(angles) if angles else 0.0


def group_lines(boxes: list[TextBox]) -> list[_Line]:
    """Boxes in reading order, grouped into lines: centres rotated by the card's tilt, then boxes whose
    centres lie within 0.6 of a line height of each other are one line, read left to right."""
    if not boxes:
        return []
    if not any(b.points for b in boxes):  # no geometry (e.g. an engine that gives lines): keep the order
        return [_Line([b], i) for i, b in enumerate(boxes)]
    angle = _skew(boxes)
    cos, sin = math.cos(-angle), math.sin(-angle)
    placed = []
    for box in boxes:
        x, y = _centre(box)
        placed.append((x * sin + y * cos, x * cos - y * sin, box))
    placed.sort(key=lambda item: item[0])
    lines: list[tuple[list, list]] = []  # (ys, [(x, box)])
    for y, x, box in placed:
        tolerance = 0.6 * _height(box)
        if lines and abs(median(lines[-1][0]) - y) <= tolerance:
            lines[-1][0].append(y)
            lines[-1][1].append((x, box))
        else:
            lines.append(([y], [(x, box)]))
    return [_Line([b for _, b in sorted(members, key=lambda m: m[0])], median(ys)) for ys, members in lines]


# --- The ID number ---------------------------------------------------------------------------------

_CONFUSIONS = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "I": "1", "l": "1", "|": "1", "i": "1",
                             "Z": "2", "z": "2", "S": "5", "s": "5", "B": "8"})
_NUMBER_LIKE = re.compile(r"[0-9OoDQIl|iZzSsBXx×]{15,22}")


def _valid(number: str, today: date | None) -> bool:
    try:
        parse_resident_id(number, today=today)
    except NationalIdError:
        return False
    return True


def find_id_number(text: str, *, today: date | None = None) -> tuple[str, bool]:
    """The ID number in `text`: (number, repaired). The number exactly as read if it passes GB 11643,
    else the read characters with the usual confusions repaired if that passes; ("", False) if none."""
    compact = re.sub(r"\s+", "", text).replace("×", "X").replace("x", "X")
    candidates = _NUMBER_LIKE.findall(compact)
    for candidate in candidates:  # exact first
        for start in range(0, len(candidate) - 17):
            number = candidate[start:start + 18]
            if re.fullmatch(r"\d{17}[\dX]", number) and _valid(number, today):
                return number, False
    for candidate in candidates:
        for start in range(0, len(candidate) - 17):
            raw = candidate[start:start + 18]
            number = raw[:17].translate(_CONFUSIONS) + (raw[17] if raw[17] == "X" else raw[17:].translate(_CONFUSIONS))
            if number != raw and re.fullmatch(r"\d{17}[\dX]", number) and _valid(number, today):
                return number, True
    return "", False


# --- Front and back ---------------------------------------------------------------------------------

_FRONT_LABELS = ("姓名", "性别", "民族", "出生", "住址", "公民身份号码", "身份号码")
_BACK_LABELS = ("签发机关", "有效期限", "居民身份证", "中华人民共和国")
_ADDRESS_END = re.compile(r"(公民身份|身份号码|号码)")


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _labels_in(text: str, labels) -> int:
    return sum(1 for label in labels if label in text)


def _after(label_pattern: str, text: str) -> str:
    match = re.search(label_pattern, text)
    return text[match.end():].strip(" :：\"'“”‘’") if match else ""


def parse_front(boxes: list[TextBox], *, today: date | None = None) -> CardReading:
    """The front's fields, or an error: not an ID card, the back instead, or an unreadable ID number."""
    lines = group_lines(boxes)
    squashed = [(_squash(line.text), line) for line in lines]
    everything = "\n".join(text for text, _ in squashed)
    reading = CardReading(side=FRONT)
    number, repaired = find_id_number(everything, today=today)
    front_labels = _labels_in(everything, _FRONT_LABELS)
    if not number and front_labels == 0 and _NUMBER_LIKE.search(everything) is None:
        if _labels_in(everything, _BACK_LABELS) >= 2:
            return _failed(reading, WRONG_SIDE)
        return _failed(reading, NOT_AN_ID_CARD)
    if not number:
        if front_labels <= 1 and _labels_in(everything, _BACK_LABELS) >= 2:
            return _failed(reading, WRONG_SIDE)
        return _failed(reading, UNREADABLE)
    number_line = next((line for text, line in squashed if number in text.replace("x", "X")
                        or _NUMBER_LIKE.search(text)), None)
    reading.fields["id_number"] = number
    reading.confidence["id_number"] = round((number_line.confidence if number_line else 0.5) * (0.9 if repaired else 1), 3)
    if repaired:
        reading.fields["id_number_repaired"] = True

    for text, line in squashed:
        if "姓名" in text and "name" not in reading.fields:
            name = re.sub(r"[^\u4e00-\u9fff·]", "", _after("姓名", text))
            if name:
                reading.fields["name"], reading.confidence["name"] = name, round(line.confidence, 3)
        if "性别" in text and "sex" not in reading.fields:
            match = re.search(r"性别([男女])", text)
            if match:
                reading.fields["sex"] = "male" if match.group(1) == "男" else "female"
                reading.confidence["sex"] = round(line.confidence, 3)
        if "民族" in text and "ethnicity" not in reading.fields:
            match = re.search(r"民族([\u4e00-\u9fff]{1,5})", text)
            if match:
                reading.fields["ethnicity"], reading.confidence["ethnicity"] = match.group(1), round(line.confidence, 3)
        if "出生" in text and "date_of_birth" not in reading.fields:
            match = re.search(r"(\d{4})年(\d{1,2})月(\d{1,2})日?", text)
            if match:
                try:
                    born = date(*(int(g) for g in match.groups()))
                except ValueError:
                    born = None
                if born:
                    reading.fields["date_of_birth"] = born.isoformat()
                    reading.confidence["date_of_birth"] = round(line.confidence, 3)

    # The address: from the 住址 line down to the line of the ID number.
    start = next((i for i, (text, _) in enumerate(squashed) if "住址" in text), None)
    if start is None:  # the label's second character misread (址 as 上, 扯, ...): a line starting 住 after 出生
        born_at = next((i for i, (text, _) in enumerate(squashed) if "出生" in text), None)
        if born_at is not None and born_at + 1 < len(squashed) and squashed[born_at + 1][0].startswith("住"):
            start = born_at + 1
    if start is not None:
        parts, confidences = [], []
        for text, line in squashed[start:start + 4]:
            if _ADDRESS_END.search(text) or number in text:
                break
            part = (_after("住址", text) if "住址" in text else text[2:].lstrip(" :：") if not parts and text.startswith("住")
                    else text)
            if part:
                parts.append(part)
                confidences.append(line.confidence)
        if parts:
            reading.fields["address"] = "".join(parts)
            reading.confidence["address"] = round(min(confidences), 3)

    # What the number itself says fills what the text did not (and is the truth where they differ).
    resident = parse_resident_id(number, today=today)
    from_number = {"sex": resident.sex, "date_of_birth": resident.birth_date.isoformat()}
    for name, value in from_number.items():
        if reading.fields.get(name) != value:
            reading.fields[name] = value
            reading.confidence[name] = reading.confidence["id_number"]
    return reading


_DATE = r"(\d{4})[.\-/年]?(\d{2})[.\-/月]?(\d{2})日?"


def parse_back(boxes: list[TextBox]) -> CardReading:
    """The back's issuing authority and validity period, or an error."""
    lines = group_lines(boxes)
    squashed = [(_squash(line.text), line) for line in lines]
    everything = "\n".join(text for text, _ in squashed)
    reading = CardReading(side=BACK)
    back_labels = _labels_in(everything, _BACK_LABELS)
    if back_labels == 0:
        if _labels_in(everything, _FRONT_LABELS) >= 2 or find_id_number(everything)[0]:
            return _failed(reading, WRONG_SIDE)
        return _failed(reading, NOT_AN_ID_CARD)
    for text, line in squashed:
        if "签发机关" in text and "authority" not in reading.fields:
            authority = _after("签发机关", text)
            if authority:
                reading.fields["authority"], reading.confidence["authority"] = authority, round(line.confidence, 3)
        if "有效期" in text and "valid_from" not in reading.fields:
            period = _after(r"有效期限?", text).translate(_CONFUSIONS)
            match = re.search(_DATE + r"[-—–~至]+(?:" + _DATE + r"|(长期))", period)
            if match:
                groups = match.groups()
                try:
                    valid_from = date(int(groups[0]), int(groups[1]), int(groups[2]))
                    valid_until = None if groups[6] else date(int(groups[3]), int(groups[4]), int(groups[5]))
                except ValueError:
                    continue
                reading.fields["valid_from"] = valid_from.isoformat()
                reading.fields["valid_until"] = valid_until.isoformat() if valid_until else None
                reading.fields["valid_indefinitely"] = valid_until is None
                reading.confidence["validity"] = round(line.confidence, 3)
    if "valid_from" not in reading.fields:
        return _failed(reading, "unreadable_back")
    return reading


def parse(side: str, boxes: list[TextBox], *, today: date | None = None) -> CardReading:
    """The card's side `side` from the engine's boxes; a photo with (almost) no text is asked again, sharper."""
    if sum(len(_squash(b.text)) for b in boxes) < 4:
        return _failed(CardReading(side=side), NO_TEXT)
    return parse_front(boxes, today=today) if side == FRONT else parse_back(boxes)


def _failed(reading: CardReading, code: str) -> CardReading:
    reading.fields, reading.confidence = {}, {}
    reading.error_code, reading.error_message = code, MESSAGES[code]
    return reading


# --- The address in the profile's parts ---------------------------------------------------------------

_MUNICIPALITIES = ("北京市", "天津市", "上海市", "重庆市")
_PROVINCE = re.compile(r"^(.{2,7}?(?:省|自治区|特别行政区))")
_CITY = re.compile(r"^(.{2,9}?(?:市|自治州|地区|盟))")
_DISTRICT = re.compile(r"^(.{1,9}?(?:区|县|市|旗))")


def split_address(address: str) -> dict:
    """An address as printed on the card -> province, city, district and street (what is left).
    For the four municipalities the city is the municipality itself."""
    rest = address.strip()
    parts = {"province": "", "city": "", "district": "", "street": ""}
    municipality = next((m for m in _MUNICIPALITIES if rest.startswith(m)), None)
    if municipality:
        parts["province"] = parts["city"] = municipality
        rest = rest[len(municipality):]
    else:
        match = _PROVINCE.match(rest)
        if match:
            parts["province"], rest = match.group(1), rest[match.end():]
        match = _CITY.match(rest)
        if match:
            parts["city"], rest = match.group(1), rest[match.end():]
    match = _DISTRICT.match(rest)
    if match and len(rest) > match.end():
        parts["district"], rest = match.group(1), rest[match.end():]
    parts["street"] = rest
    return parts
