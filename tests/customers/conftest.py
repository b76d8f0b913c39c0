"""Fixtures for the customer-profile tests: private media in a temp dir, a customer with a profile."""

from datetime import date

import pytest

from tests.factories import CustomerProfileFactory, resident_id

# Li Na's ID: born 1990-03-07, a woman. Region 310101 keeps it apart from the factory's sequence.
LI_NA_ID = resident_id(0, birth_date=date(1990, 3, 7), sex="female", region_code="310101")


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def profile(customer):
    return CustomerProfileFactory(user=customer, full_name="Li Na", id_number=LI_NA_ID)


@pytest.fixture
def other_profile(make_user):
    from customers.roles import Role

    return CustomerProfileFactory(user=make_user(Role.CUSTOMER), full_name="Zhou Qiang")
