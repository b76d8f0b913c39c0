"""plan_activate: an accepted contract becomes an active plan with schedule version 1."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from collections_app.servicing import activation
from collections_app.servicing.engine import terms_from_json, version_schedule
from config.errors import DomainError
from customers.models import AuditEvent
from installments.engine.schedules import build_schedule
from installments.models import Application, Contract, Installment, Plan
from tests.collections_app.factories import contract_accepted, days_ago

pytestmark = pytest.mark.django_db


def test_activation_rebuilds_the_offer_schedule_on_the_actual_disbursement_date(officer_user):
    contract = contract_accepted(amount="12000", term=12, rate="12", accepted_on=days_ago(10))
    disbursed = days_ago(3)
    plan = activation.plan_activate(contract=contract, by=officer_user, disbursement_date=disbursed)

    assert re.fullmatch(r"PLN-\d{4}-[2-9A-HJ-NP-Z]{6}", plan.number)
    assert plan.state == Plan.State.ACTIVE and plan.current_version == 1 and plan.disbursement_date == disbursed
    expected = build_schedule(terms_from_json(contract.offer.terms, disbursement_date=disbursed))
    rows = list(plan.installments.order_by("number"))
    assert [r.due_date for r in rows] == [r.due_date for r in expected.installments]
    assert sum(r.principal_due for r in rows) == Decimal("12000") == plan.principal
    assert [r.amount_due for r in rows] == [r.payment for r in expected.installments]
    version = plan.schedule_versions.get()
    assert version.terms["disbursement_date"] == disbursed.isoformat()
    assert version.disclosure["contract"] == contract.disclosure
    assert version_schedule(version).installments == expected.installments
    contract.application.refresh_from_db()
    assert contract.application.state == Application.State.ACTIVE
    assert AuditEvent.objects.filter(action="plan.activate", target_id=str(plan.pk), actor=officer_user).exists()
    assert AuditEvent.objects.filter(action="application.state", to_state="active").exists()


def test_activation_is_refused_twice_before_acceptance_and_for_a_stale_contract(officer_user):
    contract = contract_accepted(accepted_on=days_ago(2))
    activation.plan_activate(contract=contract, by=officer_user, disbursement_date=days_ago(1))
    with pytest.raises(DomainError) as error:
        activation.plan_activate(contract=contract, by=officer_user, disbursement_date=days_ago(1))
    assert error.value.code == "already_active"

    unaccepted = contract_accepted(accepted_on=days_ago(2))
    Contract.objects.filter(pk=unaccepted.pk).update(accepted_at=None)
    unaccepted.refresh_from_db()
    with pytest.raises(DomainError) as error:
        activation.plan_activate(contract=unaccepted, by=officer_user, disbursement_date=days_ago(1))
    assert error.value.code == "not_accepted"

    stale = contract_accepted(accepted_on=days_ago(2))
    Contract.objects.create(application=stale.application, offer=stale.offer, version=2, content_html="v2",
                            content_sha256="1" * 64, accepted_at=stale.accepted_at)
    with pytest.raises(DomainError) as error:
        activation.plan_activate(contract=stale, by=officer_user, disbursement_date=days_ago(1))
    assert error.value.code == "stale_contract"
    assert not Plan.objects.filter(application=stale.application).exists()


def test_activation_checks_the_state_and_the_disbursement_date(officer_user):
    contract = contract_accepted(accepted_on=days_ago(2))
    with pytest.raises(DomainError) as error:
        activation.plan_activate(contract=contract, by=officer_user, disbursement_date=days_ago(5))
    assert error.value.field == "disbursement_date"
    with pytest.raises(DomainError):
        activation.plan_activate(contract=contract, by=officer_user, disbursement_date=days_ago(-1))
    Application.objects.filter(pk=contract.application_id).update(state=Application.State.APPROVED)
    with pytest.raises(DomainError) as error:
        activation.plan_activate(contract=contract, by=officer_user, disbursement_date=days_ago(1))
    assert error.value.code == "invalid_state"


def test_a_plan_disbursed_in_the_past_starts_with_its_due_rows_marked(officer_user):
    contract = contract_accepted(accepted_on=days_ago(70))
    plan = activation.plan_activate(contract=contract, by=officer_user, disbursement_date=days_ago(70))
    statuses = list(plan.installments.order_by("number").values_list("status", flat=True))
    assert statuses[:2] == [Installment.Status.OVERDUE] * 2 and set(statuses[2:]) == {Installment.Status.PENDING}


def test_seasonal_plans_with_skipped_months_store_no_negative_principal(officer_user):
    start = days_ago(1)
    skipped = (start + timedelta(days=62)).month
    contract = contract_accepted(accepted_on=start, method="seasonal", seasonal_months=frozenset({skipped}),
                                 seasonal_factor=Decimal("0"))
    plan = activation.plan_activate(contract=contract, by=officer_user, disbursement_date=start)
    rows = list(plan.installments.order_by("number"))
    assert all(r.principal_due >= 0 and r.interest_due >= 0 for r in rows)
    assert any(r.status == Installment.Status.PAID and r.amount_due == 0 for r in rows)
