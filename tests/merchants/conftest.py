"""Merchant fixtures: a product, an onboarded merchant with its user and catalogue, staff and customers."""

from decimal import Decimal

import pytest

from customers.roles import Role
from installments.merchants import services
from installments.merchants.uscc import uscc_check_char
from tests.factories import UserFactory, WorkbenchProductFactory


def licence(first17: str = "91310000MA1FL8E7D") -> str:
    """A valid unified social credit code: the check character computed by our GB 32100-2015 function."""
    return first17 + uscc_check_char(first17)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def product(db):
    return WorkbenchProductFactory(code="pos-consumer")


@pytest.fixture
def admin_user(db):
    return UserFactory(roles=[Role.ADMIN], full_name="Ada Admin", is_staff=True, is_superuser=True)


@pytest.fixture
def merchant_manager(db):
    return UserFactory(roles=[Role.MANAGER], full_name="Mona Manager")


def onboard(by, product, *, first17="91310000MA1FL8E7D", email="shop@example.com", name="Bright Home Ltd"):
    return services.merchant_onboard(
        by=by, legal_name=name, licence_number=licence(first17), bank_name="ICBC Shanghai",
        account_number="6222 0210 0112 3456 789", products=[product], discount_rate=Decimal("2.5"),
        user_email=email, user_full_name="Shop Keeper")


@pytest.fixture
def merchant(merchant_manager, product):
    merchant = onboard(merchant_manager, product)
    for name, category, price in (("Sofa", "furniture", "3999.00"), ("Phone", "appliances", "4999.00")):
        services.good_save(merchant=merchant, by=merchant_manager, name=name, category=category, price=price)
    return merchant


@pytest.fixture
def merchant_user(merchant):
    return merchant.users.get().user


@pytest.fixture
def other_merchant(merchant_manager, product):
    other = onboard(merchant_manager, product, first17="91110108MA01AB2C3", email="other@example.com",
                    name="Other Shop Ltd")
    services.good_save(merchant=other, by=merchant_manager, name="Bike", category="other", price="2999.00")
    return other


def goods_of(merchant) -> dict[str, int]:
    return {g.name: g.pk for g in merchant.goods.all()}
