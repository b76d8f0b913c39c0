"""The ID card parser on hand-written OCR boxes: fields, lines split and merged, address over several lines,
the ID number checked (GB 11643) and repaired only when the check then passes, the back's validity, and the
clear failures (not a card, unreadable number, the other side)."""

from datetime import date

import pytest

from customers.national_id import make_resident_id
from customers.ocr.id_card import (
    NOT_AN_ID_CARD,
    UNREADABLE,
    WRONG_SIDE,
    TextBox,
    find_id_number,
    group_lines,
    parse_back,
    parse_front,
    split_address,
)

NUMBER = make_resident_id(region_code="110105", birth_date=date(1990, 3, 7), sequence=12, sex="female")


def box(text, x, y, w=None, h=30, confidence=0.99, tilt=0.0):
    w = w or 30 * len(text)
    return TextBox(text, confidence, ((x, y), (x + w, y + tilt * w), (x + w, y + h + tilt * w), (x, y + h)))


def front_boxes(number=NUMBER, *, split_labels=False):
    rows = [
        ("姓名", "王小芳", 40), ("性别", "女", 90), ("出生", "1990年3月7日", 140),
        ("住址", "北京市朝阳区建国路88号", 190),
    ]
    boxes = []
    for label, value, y in rows:
        if split_labels:
            boxes += [box(label, 20, y), box(value, 120, y + 3)]
        else:
            boxes.append(box(label + value, 20, y))
    boxes.append(box("民族汉", 300, 92))
    boxes.append(box("3号楼2单元501室", 120, 240))
    boxes.append(box("公民身份号码", 20, 330))
    boxes.append(box(number, 260, 326, h=36))
    return boxes


@pytest.mark.parametrize("split_labels", [False, True])
def test_the_front_fields_are_read_from_merged_or_split_boxes(split_labels):
    reading = parse_front(front_boxes(split_labels=split_labels), today=date(2026, 1, 1))
    assert reading.ok, reading.error_message
    assert reading.fields == {
        "id_number": NUMBER, "name": "王小芳", "sex": "female", "ethnicity": "汉", "date_of_birth": "1990-03-07",
        "address": "北京市朝阳区建国路88号3号楼2单元501室",
    }
    assert set(reading.confidence) >= {"id_number", "name", "address"}


def test_boxes_in_random_order_and_a_tilted_card_give_the_same_lines():
    boxes = [box("姓名王小芳", 20, 40, tilt=0.08), box("公民身份号码", 20, 330, tilt=0.08),
             box(NUMBER, 260, 326 + 0.08 * 240, h=36, tilt=0.08), box("性别女", 20, 90, tilt=0.08),
             box("民族汉", 300, 92 + 0.08 * 280, tilt=0.08)]
    lines = [line.text for line in group_lines(list(reversed(boxes)))]
    assert lines == ["姓名王小芳", "性别女民族汉", "公民身份号码" + NUMBER]


def test_the_id_number_is_repaired_only_when_the_check_digit_then_passes():
    confused = NUMBER[:3] + "O" + NUMBER[4:8] + "I" + NUMBER[9:] if NUMBER[3] == "1" else None
    garbled = NUMBER.replace("0", "O").replace("1", "l")
    assert find_id_number(garbled, today=date(2026, 1, 1)) == (NUMBER, True)
    if confused:  # O where a 1 was: the repaired number does not pass, so nothing is taken
        assert find_id_number(confused, today=date(2026, 1, 1))[0] == ""
    assert find_id_number(f"号码{NUMBER}", today=date(2026, 1, 1)) == (NUMBER, False)
    wrong_check = NUMBER[:17] + ("0" if NUMBER[17] != "0" else "1")
    assert find_id_number(wrong_check, today=date(2026, 1, 1)) == ("", False)


def test_an_x_check_digit_read_lower_case_or_as_a_multiplication_sign_is_accepted():
    number = next(n for n in (make_resident_id(region_code="310101", birth_date=date(1985, 5, s), sequence=3, sex="male")
                              for s in range(1, 29)) if n.endswith("X"))
    for read in (number[:17] + "x", number[:17] + "×"):
        assert find_id_number(read, today=date(2026, 1, 1)) == (number, False)


def test_the_number_is_the_truth_for_sex_and_date_of_birth():
    boxes = [b if not b.text.startswith("出生") else box("出生1990年8月7日", 20, 140) for b in front_boxes()]
    reading = parse_front(boxes, today=date(2026, 1, 1))
    assert reading.fields["date_of_birth"] == "1990-03-07"


def test_an_image_without_labels_or_number_is_not_an_id_card():
    reading = parse_front([box("超市购物小票", 10, 10), box("合计57.80元", 10, 60)])
    assert reading.error_code == NOT_AN_ID_CARD and "does not look like an ID card" in reading.error_message
    assert reading.fields == {}


def test_a_card_whose_number_fails_the_check_asks_for_a_sharper_photo():
    boxes = front_boxes(number=NUMBER[:10] + "8" + NUMBER[11:] if NUMBER[10] != "8" else NUMBER[:10] + "9" + NUMBER[11:])
    reading = parse_front(boxes, today=date(2026, 1, 1))
    assert reading.error_code == UNREADABLE and "sharper photo" in reading.error_message
    assert reading.fields == {}


def test_the_back_gives_authority_and_validity():
    reading = parse_back([box("中华人民共和国", 200, 20), box("居民身份证", 200, 80),
                          box("签发机关", 100, 300), box("北京市公安局朝阳分局", 250, 302),
                          box("有效期限", 100, 360), box("2015.06.01-2025.06.01", 250, 362)])
    assert reading.fields == {"authority": "北京市公安局朝阳分局", "valid_from": "2015-06-01",
                              "valid_until": "2025-06-01", "valid_indefinitely": False}


def test_a_long_term_card_has_no_end_date():
    reading = parse_back([box("签发机关上海市公安局徐汇分局", 100, 300), box("有效期限2010.01.05-长期", 100, 360)])
    assert reading.fields["valid_until"] is None and reading.fields["valid_indefinitely"] is True


def test_the_wrong_side_is_named():
    assert parse_back(front_boxes()).error_code == WRONG_SIDE
    assert parse_front([box("签发机关北京市公安局", 10, 10), box("有效期限2015.06.01-长期", 10, 60)]).error_code == WRONG_SIDE


def test_the_address_is_split_into_the_profile_parts():
    assert split_address("广东省深圳市南山区科技园路12号") == {
        "province": "广东省", "city": "深圳市", "district": "南山区", "street": "科技园路12号"}
    assert split_address("北京市朝阳区建国路88号") == {
        "province": "北京市", "city": "北京市", "district": "朝阳区", "street": "建国路88号"}


def test_the_parser_and_the_engine_wrapper_import_no_django():
    import subprocess
    import sys

    code = ("import sys, customers.ocr.id_card, customers.ocr.engine; "
            "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules), 'django imported'")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": "."}, cwd=".")
