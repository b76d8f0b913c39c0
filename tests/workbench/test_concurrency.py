"""Four-eyes under concurrent clicks: two approvers at once make exactly one approval (PostgreSQL,
where select_for_update really locks; SQLite serialises whole transactions and cannot show it)."""

import threading
import time

import pytest
from django.db import connection, connections

from config.errors import DomainError
from customers.models import AuditEvent
from installments.models import Application, Contract, Decision
from installments.origination import contracts, decisions
from tests.factories import workbench_case

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL (CI sets DATABASE_URL)"),
]


def _slow_contract_generate(monkeypatch):
    """Hold the first click's transaction open a moment, so the second really waits on the lock."""
    original = contracts.contract_generate

    def slow(**kwargs):
        time.sleep(0.3)
        return original(**kwargs)

    monkeypatch.setattr(contracts, "contract_generate", slow)


def _click_together(verb, users) -> list[str]:
    barrier = threading.Barrier(len(users))
    outcomes: list[str] = []

    def click(user):
        try:
            barrier.wait(timeout=10)
            verb(user)
            outcomes.append("done")
        except DomainError as refusal:
            outcomes.append(refusal.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes)


def test_two_approvers_confirming_at_once_make_exactly_one_approval(officer, approver, second_approver, monkeypatch):
    application = workbench_case(amount="80000", income="60000")
    decisions.application_approve(application=application, by=officer)
    _slow_contract_generate(monkeypatch)

    outcomes = _click_together(
        lambda user: decisions.application_confirm(application=Application.objects.get(pk=application.pk), by=user),
        [approver, second_approver])

    assert outcomes == ["done", "not_pending"]
    decision = Decision.objects.get(application=application)
    assert decision.status == Decision.Status.CONFIRMED and decision.confirmed_by in (approver, second_approver)
    assert Contract.objects.filter(application=application).count() == 1
    assert AuditEvent.objects.filter(action="decision.confirm").count() == 1
    application.refresh_from_db()
    assert application.state == Application.State.APPROVED


def test_two_approvers_approving_the_same_case_at_once_record_one_decision(approver, second_approver, monkeypatch):
    application = workbench_case()
    _slow_contract_generate(monkeypatch)

    outcomes = _click_together(
        lambda user: decisions.application_approve(application=Application.objects.get(pk=application.pk), by=user),
        [approver, second_approver])

    assert outcomes == ["done", "invalid_state"]
    assert Decision.objects.filter(application=application).count() == 1
    assert Contract.objects.filter(application=application).count() == 1
