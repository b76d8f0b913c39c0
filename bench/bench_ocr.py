"""Reading ID cards: RapidOCR (PP-OCR, the engine the product uses) beside Tesseract (chi_sim), on the
same synthetic cards (tests/ocr/cards.py: random names, addresses, valid ID numbers; 640-1200 px wide,
rotated within ±5 degrees, blurred 0-1.2 px). Both engines' text goes through the same parser
(customers/ocr/id_card.py). Prints, per engine, the share of cards whose field was read exactly and the
seconds per card (one process, after the engine is loaded). Asserts nothing.

    python bench/bench_ocr.py [--cards 40] [--engines rapidocr,tesseract]

Needs a CJK font (Debian fonts-wqy-zenhei or fonts-noto-cjk); Tesseract needs the Debian packages
tesseract-ocr and tesseract-ocr-chi-sim (skipped with a note when missing).
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from customers.ocr import engine as rapid  # noqa: E402
from customers.ocr.id_card import TextBox, parse_back, parse_front  # noqa: E402
from tests.ocr.cards import cjk_font_path, draw_back, draw_front, variants  # noqa: E402

FRONT_FIELDS = ("id_number", "name", "sex", "ethnicity", "date_of_birth", "address")
BACK_FIELDS = ("authority", "validity")


def tesseract_boxes(image_bytes: bytes) -> list[TextBox]:
    """Tesseract's words (TSV) with their boxes and confidence (0-1), Chinese simplified + digits."""
    with tempfile.NamedTemporaryFile(suffix=".png") as handle:
        handle.write(image_bytes)
        handle.flush()
        out = subprocess.run(["tesseract", handle.name, "stdout", "-l", "chi_sim", "--psm", "6", "tsv"],
                             capture_output=True, text=True, check=True).stdout
    boxes = []
    for row in csv.DictReader(io.StringIO(out), delimiter="\t", quoting=csv.QUOTE_NONE):
        text = (row.get("text") or "").strip()
        if not text or float(row.get("conf") or -1) < 0:
            continue
        x, y, w, h = (int(row[k]) for k in ("left", "top", "width", "height"))
        boxes.append(TextBox(text=text, confidence=float(row["conf"]) / 100,
                             points=((x, y), (x + w, y), (x + w, y + h), (x, y + h))))
    return boxes


def expected_front(facts) -> dict:
    return {"id_number": facts.id_number, "name": facts.name, "sex": facts.sex, "ethnicity": facts.ethnicity,
            "date_of_birth": facts.birth_date.isoformat(), "address": facts.address}


def expected_back(facts) -> dict:
    return {"authority": facts.authority,
            "validity": (facts.valid_from.isoformat(), facts.valid_until.isoformat() if facts.valid_until else None)}


def measure(read, cards) -> dict:
    hits = {name: 0 for name in FRONT_FIELDS + BACK_FIELDS}
    seconds, misses = 0.0, []
    for facts, variant in cards:
        front = draw_front(facts, width=variant.width, rotation=variant.rotation, blur=variant.blur)
        back = draw_back(facts, width=variant.width, rotation=variant.rotation, blur=variant.blur)
        started = time.perf_counter()
        front_reading, back_reading = parse_front(read(front)), parse_back(read(back))
        seconds += time.perf_counter() - started
        got = dict(front_reading.fields)
        got["validity"] = (back_reading.fields.get("valid_from"), back_reading.fields.get("valid_until"))
        got["authority"] = back_reading.fields.get("authority")
        want = {**expected_front(facts), **expected_back(facts)}
        for name in hits:
            if got.get(name) == want[name]:
                hits[name] += 1
            else:
                misses.append((name, want[name], got.get(name), variant))
    return {"accuracy": {name: hits[name] / len(cards) for name in hits},
            "seconds_per_card": seconds / len(cards) / 2, "misses": misses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=40)
    parser.add_argument("--engines", default="rapidocr,tesseract")
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    if cjk_font_path() is None:
        sys.exit("No CJK font: apt-get install fonts-wqy-zenhei")
    cards = variants(args.cards)
    engines = {"rapidocr": rapid.read_boxes, "tesseract": tesseract_boxes}
    for name in args.engines.split(","):
        if name == "tesseract" and shutil.which("tesseract") is None:
            print("tesseract: not installed (apt-get install tesseract-ocr tesseract-ocr-chi-sim), skipped")
            continue
        read = engines[name]
        read(draw_front(cards[0][0]))  # load the engine before timing
        result = measure(read, cards)
        figures = "  ".join(f"{field} {share:.0%}" for field, share in result["accuracy"].items())
        print(f"{name:10s} {len(cards)} cards (front+back)  {figures}  {result['seconds_per_card']:.2f} s per image")
        if args.show_misses:
            for miss in result["misses"]:
                print("   miss", *miss)


if __name__ == "__main__":
    main()
