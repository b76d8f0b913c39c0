"""ID number validation: GB 11643-1999 check digit, derived birth date and sex, other ID formats."""

from datetime import date

import pytest

from customers.national_id import (
    NationalIdError,
    check_character,
    make_resident_id,
    parse_resident_id,
    validate_id_number,
)

# The GB 11643 specimen number and numbers whose check digits were computed by hand.
VALID = ["11010519491231002X", "440524198001010013", "32010219851121123X", "110101199003074514"]


@pytest.mark.parametrize("number", VALID)
def test_valid_resident_ids_are_accepted(number):
    assert parse_resident_id(number).number == number


def test_check_character_follows_the_gb11643_weights():
    # 1*7 + 1*9 + 0*10 + 1*5 + 0*8 + 5*4 + 1*2 + 9*1 + 4*6 + 9*3 + 1*7 + 2*9 + 3*10 + 1*5 + 0*8 + 0*4 + 2*2 = 167
    # 167 mod 11 = 2 -> "10X98765432"[2] = "X"
    assert check_character("11010519491231002") == "X"


def test_birth_date_and_sex_are_derived():
    woman = parse_resident_id("11010519491231002X")
    assert woman.birth_date == date(1949, 12, 31) and woman.sex == "female" and woman.region_code == "110105"
    man = parse_resident_id("440524198001010013")
    assert man.birth_date == date(1980, 1, 1) and man.sex == "male"


def test_lower_case_x_spaces_and_hyphens_are_normalised():
    assert parse_resident_id(" 110105-19491231 002x ").number == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("11010519491231002", "length"),  # 17 characters
        ("11010519491231002X1", "length"),  # 19 characters
        ("110105194912310", "length"),  # the retired 15-digit format
        ("1A010519491231002X", "characters"),  # a letter in the region code
        ("11010519491231X02X", "characters"),  # X not in last place
        ("99010519491231002X", "region"),  # no province 99
        ("000105194912310024", "region"),  # province 00 (check digit itself correct)
        ("110105194913310028", "birth_date"),  # month 13
        ("110105194902300028", "birth_date"),  # 30 February
        ("110105189912310028", "birth_date"),  # before 1900
        ("110105209912310028", "birth_date"),  # in the future
        ("110105194912310021", "check_digit"),
        ("110101199003074515", "check_digit"),
    ],
)
def test_invalid_resident_ids_are_refused_with_the_reason(number, code):
    with pytest.raises(NationalIdError) as caught:
        parse_resident_id(number, today=date(2026, 1, 1))
    assert caught.value.code == code
    assert caught.value.message  # a sentence for the customer


def test_made_ids_are_valid_and_carry_the_requested_facts():
    number = make_resident_id(region_code="320102", birth_date=date(1985, 2, 28), sequence=17, sex="male")
    parsed = parse_resident_id(number)
    assert (parsed.birth_date, parsed.sex, parsed.region_code) == (date(1985, 2, 28), "male", "320102")


@pytest.mark.parametrize(
    ("id_type", "number"),
    [
        ("passport", "E12345678"),
        ("passport", "ab1234567"),
        ("hk_macau_permit", "H12345678"),
        ("hk_macau_permit", "M1234567890"),
        ("taiwan_permit", "12345678"),
        ("foreign_permanent_id", "USA123456789012"),
        ("foreign_permanent_id", make_resident_id(region_code="911234", birth_date=date(1980, 1, 1), sequence=1,
                                                  sex="male")),
    ],
)
def test_other_id_types_are_validated_by_format(id_type, number):
    assert validate_id_number(id_type, number) == number.upper()


@pytest.mark.parametrize(
    ("id_type", "number"),
    [
        ("passport", "ABCDEFGH"),  # no digit
        ("passport", "E1234"),  # too short
        ("hk_macau_permit", "X12345678"),
        ("taiwan_permit", "1234567"),
        ("foreign_permanent_id", "US123456789012"),
        ("foreign_permanent_id", "911234198001010011"),  # new format, wrong check digit
    ],
)
def test_other_id_types_refuse_bad_formats(id_type, number):
    with pytest.raises(NationalIdError):
        validate_id_number(id_type, number)
