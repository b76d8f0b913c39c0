"""OCR fixtures: the CJK font the synthetic cards are drawn with (skip with the reason when it is missing)."""

import pytest

from tests.ocr.cards import cjk_font_path


@pytest.fixture
def cjk_font():
    path = cjk_font_path()
    if path is None:
        pytest.skip("No CJK font to draw ID cards with: apt-get install fonts-wqy-zenhei (CI's .ci/run does)")
    return path


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer, backend="customers.backends.ModelBackendWithRoles")
    return client
