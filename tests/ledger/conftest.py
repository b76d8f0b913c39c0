"""Fixtures for the books: the default chart of accounts (a transactional test's flush removes the
rows migration 0006 made), and users of the roles that read them."""

from importlib import import_module

import pytest
from django.apps import apps

from customers.roles import Role


def ensure_chart() -> None:
    import_module("collections_app.migrations.0006_default_chart_of_accounts").create_chart(apps, None)


@pytest.fixture
def chart(db):
    ensure_chart()


@pytest.fixture
def accountant(make_user):
    return make_user(Role.ACCOUNTANT)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
