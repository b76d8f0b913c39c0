"""One application submitted once, however many tabs submit it at the same moment (PostgreSQL, where
select_for_update really locks; SQLite serialises whole transactions and cannot show it)."""

import threading
import time

import pytest
from django.db import connection, connections

from config.errors import DomainError
from customers.models import AuditEvent
from installments.models import Application
from installments.origination import applications as installment_services
from portal import services as portal_services
from tests.portal.conftest import ready_draft

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL (CI sets DATABASE_URL)"),
]


def test_two_tabs_submitting_at_once_submit_the_application_once(customer, product, monkeypatch):
    draft = ready_draft(customer, product)
    original = installment_services.application_submit

    def slow(**kwargs):  # the first tab holds its locks a moment, so the second really waits on them
        time.sleep(0.3)
        return original(**kwargs)

    monkeypatch.setattr(installment_services, "application_submit", slow)
    monkeypatch.setattr(installment_services, "enqueue_scoring", lambda *, application_id: True)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def submit():
        try:
            barrier.wait(timeout=10)
            portal_services.draft_submit(draft=draft, by=customer)
            outcomes.append("submitted")
        except DomainError as refusal:
            outcomes.append(refusal.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["already_submitted", "submitted"]
    application = Application.objects.get(pk=draft.application_id)
    assert application.state == Application.State.SUBMITTED
    assert AuditEvent.objects.filter(action="application.state", target_id=str(application.pk),
                                     to_state="submitted").count() == 1
    draft.refresh_from_db()
    assert draft.submitted_at is not None
