"""The unified social credit code (GB 32100-2015): check character, alphabet, and the onboarding refusal."""

import pytest

from config.errors import DomainError
from installments.merchants import services
from installments.merchants.models import Merchant
from installments.merchants.uscc import ALPHABET, WEIGHTS, uscc_check_char, uscc_problem
from tests.merchants.conftest import licence


def test_the_weights_and_alphabet_are_the_standards():
    assert WEIGHTS == tuple(pow(3, i, 31) for i in range(17))
    assert len(ALPHABET) == 31 and not set("IOSVZ") & set(ALPHABET)


@pytest.mark.parametrize("first17", ["91350100M000100Y4", "91310000MA1FL8E7D", "12100000400000000", "51110108MJ0000000"])
def test_codes_with_the_computed_check_character_are_valid(first17):
    code = first17 + uscc_check_char(first17)
    assert uscc_problem(code) is None
    # any other check character is refused
    wrong = next(c for c in ALPHABET if c != code[-1])
    assert uscc_problem(code[:-1] + wrong) == "check"


def test_a_published_example_checks():
    assert uscc_problem("91350100M000100Y43") is None
    assert uscc_check_char("91350100M000100Y4") == "3"


@pytest.mark.parametrize("code, problem", [("91350100M000100Y4", "length"), ("91350100M000100I43", "character"),
                                           ("91350100M000100Y44", "check"), ("", "length")])
def test_bad_codes_name_their_problem(code, problem):
    assert uscc_problem(code) == problem


def test_onboarding_refuses_a_wrong_check_character_naming_the_field(merchant_manager, product):
    code = licence()
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(DomainError) as refused:
        services.merchant_onboard(by=merchant_manager, legal_name="X", licence_number=wrong, bank_name="B",
                                  account_number="1234567890", products=[product])
    assert refused.value.field == "licence_number" and "check character" in refused.value.message
    assert not Merchant.objects.exists()
