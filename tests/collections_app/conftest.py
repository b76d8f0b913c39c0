"""Fixtures for servicing and collections: outbox for messages, a product, staff per role."""

import pytest

from customers.roles import Role
from tests.collections_app.factories import product_make, staff_make


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Users are made in almost every test here; PBKDF2's deliberate slowness is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_two_factor_step(settings):
    """Approvers and admins pass a TOTP step in production (customers.two_factor, tested there); these
    tests are about servicing, so the step is off."""
    settings.TWO_FACTOR_ROLES = []


@pytest.fixture(autouse=True)
def outbox(settings, tmp_path):
    """Every reminder goes to files in a temp dir; no quiet hours unless a test sets them."""
    settings.COLLECTIONS_EMAIL_BACKEND = "customers.notifications.FileBackend"
    settings.COLLECTIONS_SMS_BACKEND = "customers.notifications.FileBackend"
    settings.COLLECTIONS_OUTBOX_DIR = str(tmp_path / "outbox")
    settings.COLLECTIONS_QUIET_HOURS = ""
    return tmp_path / "outbox"


def ensure_defaults() -> None:
    """The rows migration 0002 creates (rules, buckets, default policy); a transactional test's flush
    removes them, so tests that rely on them ask for them again."""
    from importlib import import_module

    from django.apps import apps

    import_module("collections_app.migrations.0002_defaults_and_beat").create_defaults(apps, None)


@pytest.fixture(autouse=True)
def servicing_defaults(request):
    if request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames):
        request.getfixturevalue("transactional_db" if _transactional(request) else "db")
        ensure_defaults()


def _transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    return bool(marker and marker.kwargs.get("transaction")) or "transactional_db" in request.fixturenames


@pytest.fixture
def product(db):
    return product_make()


@pytest.fixture
def officer_user(db):
    return staff_make(Role.LOAN_OFFICER)


@pytest.fixture
def approver_user(db):
    return staff_make(Role.APPROVER)


@pytest.fixture
def collector_user(db):
    return staff_make(Role.COLLECTOR)


@pytest.fixture
def manager_user(db):
    return staff_make(Role.MANAGER)


@pytest.fixture
def overdue_plan(officer_user):
    """12 x 1,000-ish annuity disbursed ~100 days ago: three installments overdue, with late charges."""
    from collections_app.collections import cob
    from installments.models import Plan
    from tests.collections_app.factories import days_ago, plan_active

    plan = plan_active(disbursed=days_ago(100), amount="12000", term=12, by=officer_user)
    cob.run_cob(days_ago(1))
    plan.refresh_from_db()
    assert plan.state == Plan.State.OVERDUE
    return plan
