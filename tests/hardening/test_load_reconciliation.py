"""The load test's reconciliation (bench/load/reconcile.py) names every missing, duplicate and
unacknowledged submission and payment: a check that cannot fail proves nothing."""

import importlib.util
from decimal import Decimal
from pathlib import Path

import pytest

from collections_app.models import Payment, PaymentAllocation
from customers.roles import Role
from portal import services as portal_services
from tests.collections_app.factories import pay_through_provider, plan_active
from tests.factories import UserFactory, WorkbenchProductFactory
from tests.portal.conftest import PORTAL_METHODS, ready_draft

pytestmark = pytest.mark.django_db

_spec = importlib.util.spec_from_file_location(
    "load_reconcile", Path(__file__).resolve().parents[2] / "bench" / "load" / "reconcile.py")
reconcile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reconcile)


@pytest.fixture
def paid_plan():
    plan = plan_active(amount="6000", term=6)
    for key in ("k-1", "k-2"):
        assert pay_through_provider(plan, Decimal("1.00"), key).payment.channel == Payment.Channel.SELF_SERVICE
    return plan


@pytest.fixture
def submitted_application():
    user = UserFactory(roles=[Role.CUSTOMER], email="load-applicant-0@example.com")
    draft = ready_draft(user, WorkbenchProductFactory(code="load-consumer", allowed_methods=PORTAL_METHODS))
    return portal_services.draft_submit(draft=draft, by=user)


def test_payments_each_stored_once_reconcile(paid_plan):
    assert reconcile.check_payments(["k-1", "k-2"], [paid_plan.pk]) == []


@pytest.mark.parametrize(("keys", "problem"), [
    (["k-1", "k-2", "k-3"], "accepted payments not in the database: k-3"),
    (["k-1", "k-1", "k-2"], "payment keys accepted more than once: k-1"),
    (["k-1"], "payments stored that nobody was told about: k-2"),
])
def test_a_missing_duplicate_or_unacknowledged_payment_is_named(paid_plan, keys, problem):
    assert problem in reconcile.check_payments(keys, [paid_plan.pk])


def test_a_payment_whose_allocation_rows_do_not_add_up_is_named(paid_plan):
    PaymentAllocation.objects.filter(payment__idempotency_key="k-2").delete()
    assert reconcile.check_payments(["k-1", "k-2"], [paid_plan.pk]) == [
        "payments not posted for 1.00 or not adding up: k-2"]


def test_submissions_each_stored_once_reconcile(submitted_application):
    assert reconcile.check_submissions([submitted_application.pk]) == []


def test_a_missing_duplicate_or_unacknowledged_submission_is_named(submitted_application):
    pk = submitted_application.pk
    assert f"accepted submissions not in the database: {10**9}" in reconcile.check_submissions([pk, 10**9])
    assert f"submissions accepted more than once: {pk}" in reconcile.check_submissions([pk, pk])
    assert f"submitted applications nobody was told about: {pk}" in reconcile.check_submissions([])


def test_main_fails_when_nothing_was_accepted(tmp_path, capsys):
    (tmp_path / "accepted.json").write_text('{"submissions": [], "payments": [], "window": {}}')
    (tmp_path / "accounts.json").write_text('{"payers": []}')
    assert reconcile.main(str(tmp_path / "accepted.json"), str(tmp_path / "accounts.json")) == 1
    assert "no submission was accepted" in capsys.readouterr().out
