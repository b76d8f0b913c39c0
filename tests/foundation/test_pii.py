import logging

from customers.logging import MaskPIIFilter
from customers.pii import decrypt, encrypt, mask_identifier, mask_text, search_hash


def test_encryption_round_trip_and_no_plaintext():
    token = encrypt("110101199003074578")
    assert "110101199003074578" not in token
    assert decrypt(token) == "110101199003074578"
    assert encrypt("110101199003074578") != token  # randomised


def test_search_hash_is_deterministic_and_case_insensitive():
    assert search_hash("11010119900307457x") == search_hash("11010119900307457X")
    assert search_hash("a") != search_hash("b")


def test_masking():
    assert mask_identifier("110101199003074578") == "1101**********4578"
    assert mask_text("id 110101199003074573 card 6222020200112233446") == "id 1101**********4573 card 6222********3446"


def test_log_records_are_masked():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "looked up %s", ("110101199003074573",), None)
    MaskPIIFilter().filter(record)
    assert record.getMessage() == "looked up 1101**********4573"
