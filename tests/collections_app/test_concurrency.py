"""Races on PostgreSQL: the same payment key posted by two threads at once pays once; two threads
deciding the same request apply it once; two workers sending the same reminder send once."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from collections_app.collections import reminders
from collections_app.models import Payment, Reminder, ReminderRule, ServicingRequest
from collections_app.servicing import payments, requests
from config.errors import DomainError
from installments.models import Installment
from tests.collections_app.factories import days_ago, plan_by_hand

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def race(*calls):
    """Run the calls in threads released together; return their results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as error:  # noqa: BLE001 - the test inspects it
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


@pytest.mark.django_db(transaction=True)
def test_the_same_key_posted_twice_at_once_posts_one_payment(officer_user):
    plan = plan_by_hand(disbursed=days_ago(40), rows=[(days_ago(10), "100.00", "10.00"),
                                                      (days_ago(-20), "100.00", "10.00")])

    def pay():
        return payments.payment_record(plan=plan, amount=Decimal("110.00"), idempotency_key="double-click",
                                       by=officer_user, channel=Payment.Channel.OFFICER)

    for _ in range(3):
        results = race(pay, pay)
        assert not [r for r in results if isinstance(r, Exception)], results
        assert results[0].pk == results[1].pk
        assert sorted(bool(r.replayed) for r in results) in ([False, True], [True, True])
    assert Payment.objects.filter(plan=plan).count() == 1
    first = plan.installments.get(number=1)
    assert first.amount_paid == Decimal("110.00") and first.status == Installment.Status.PAID


@pytest.mark.django_db(transaction=True)
def test_two_different_keys_at_once_both_post_and_allocate_in_turn(officer_user):
    plan = plan_by_hand(disbursed=days_ago(40), rows=[(days_ago(10), "100.00", "10.00"),
                                                      (days_ago(-20), "100.00", "10.00"),
                                                      (days_ago(-50), "100.00", "10.00")])
    results = race(*[lambda k=k: payments.payment_record(plan=plan, amount=Decimal("110.00"), idempotency_key=k,
                                                         by=officer_user, channel=Payment.Channel.OFFICER)
                     for k in ("a", "b")])
    assert all(isinstance(r, Payment) for r in results)
    assert list(plan.installments.order_by("number").values_list("status", flat=True)) == ["paid", "paid", "pending"]


@pytest.mark.django_db(transaction=True)
def test_two_approvers_confirming_at_once_apply_the_measure_once(collector_user, approver_user, manager_user):
    plan = plan_by_hand(disbursed=days_ago(100), rows=[(days_ago(40), "1000.00", "10.00")], state="overdue")
    request = requests.request_create(plan=plan, kind=ServicingRequest.Kind.LEGAL, by=collector_user,
                                      reason="no contact for 40 days")
    results = race(lambda: requests.request_decide(request=request, by=approver_user, approve=True),
                   lambda: requests.request_decide(request=request, by=manager_user, approve=True))
    errors = [r for r in results if isinstance(r, DomainError)]
    assert len(errors) == 1 and errors[0].code == "already_decided"
    plan.refresh_from_db()
    assert plan.state == "in_legal"


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_reminder_send_it_once(outbox, settings):
    settings.COLLECTIONS_EMAIL_BACKEND = "tests.collections_app.test_concurrency.SlowFileBackend"
    plan = plan_by_hand(disbursed=days_ago(20), rows=[(days_ago(-3), "100.00", "10.00")])
    rule = ReminderRule.objects.get(offset_days=-3)
    [reminder_id] = reminders.reminders_queue(on_date=days_ago(0))
    results = race(*[lambda: reminders.reminder_send(reminder_id=reminder_id)] * 3)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Reminder.objects.get(pk=reminder_id).status == Reminder.Status.SENT
    assert len(list(outbox.iterdir())) == 1
    assert Reminder.objects.filter(plan=plan, rule=rule).count() == 1


class SlowFileBackend:
    """The file backend, slow enough that the other threads arrive while it sends."""

    def send(self, message):
        import time

        from customers.notifications import FileBackend

        time.sleep(0.3)
        return FileBackend().send(message)
