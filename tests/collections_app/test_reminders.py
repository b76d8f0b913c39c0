"""Reminders: claimed once per (installment, rule, day), sent once even under retries and two
workers, deferred in quiet hours, in the customer's language, logged for customer and staff."""

import time as clock
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from collections_app import tasks
from collections_app.collections import reminders
from collections_app.models import Reminder, ReminderRule
from installments.models import Installment
from tests.collections_app.factories import customer_make, days_ago, plan_by_hand
from tests.conftest import requires_redis


def local(day, hour, minute=0):
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def upcoming_plan(**customer):
    """One installment due in three days (the -3 e-mail rule) and one overdue by 7 days (+7 e-mail)."""
    return plan_by_hand(customer=customer_make(**customer), disbursed=days_ago(40),
                        rows=[(days_ago(7), "100.00", "10.00"), (days_ago(-3), "200.00", "12.50")])


class FlakyBackend:
    """Fails the first send with a connection error, then delivers to the file outbox."""

    calls = 0

    def send(self, message):
        from customers.notifications import FileBackend

        FlakyBackend.calls += 1
        if FlakyBackend.calls == 1:
            raise ConnectionError("SMTP server went away")
        return FileBackend().send(message)


class SlowBackend:
    def send(self, message):
        from customers.notifications import FileBackend

        clock.sleep(0.5)
        return FileBackend().send(message)


@pytest.mark.django_db
def test_queueing_twice_claims_each_reminder_once():
    plan = upcoming_plan()
    Installment.objects.filter(plan=plan, number=1).update(status="overdue")
    first = reminders.reminders_queue(on_date=days_ago(0))
    second = reminders.reminders_queue(on_date=days_ago(0))
    assert sorted(first) == sorted(second) and len(first) == 2
    rules = set(Reminder.objects.values_list("rule__offset_days", flat=True))
    assert rules == {-3, 7}
    assert Reminder.objects.count() == 2


@pytest.mark.django_db
def test_a_reminder_in_english_has_the_amount_date_and_payment_link(outbox):
    plan = upcoming_plan(full_name="Li Na")
    reminder_id = reminders.reminders_queue(on_date=days_ago(0))[0]
    sent = reminders.reminder_send(reminder_id=reminder_id)
    assert sent.status == Reminder.Status.SENT and sent.recipient == plan.customer.email
    due = days_ago(-3)
    assert "212.50 CNY" in sent.subject and f"{due.day} {due:%B %Y}" in sent.body and "212.50 CNY" in sent.body
    assert f"/servicing/my/plans/{plan.pk}/" in sent.body and "Li Na" in sent.body
    [message] = list(outbox.iterdir())
    assert "212.50" in message.read_text()


@pytest.mark.django_db
def test_a_chinese_speaking_customer_gets_the_chinese_text():
    upcoming_plan(preferred_language="zh-hans", full_name="李娜")
    sent = reminders.reminder_send(reminder_id=reminders.reminders_queue(on_date=days_ago(0))[0])
    assert sent.language == "zh-hans" and "还款提醒" in sent.subject and "应还金额：212.50 CNY" in sent.body


@pytest.mark.django_db
def test_quiet_hours_defer_the_message_to_their_end(settings):
    settings.COLLECTIONS_QUIET_HOURS = "21:00-08:00"
    upcoming_plan()
    reminder_id = reminders.reminders_queue(on_date=days_ago(0))[0]
    today = timezone.localdate()
    late = reminders.reminder_send(reminder_id=reminder_id, now=local(today, 22, 15))
    assert late.status == Reminder.Status.DEFERRED and late.defer_until == local(today + timedelta(days=1), 8)
    early = reminders.reminder_send(reminder_id=reminder_id, now=local(today + timedelta(days=1), 7, 59))
    assert early.status == Reminder.Status.DEFERRED
    sent = reminders.reminder_send(reminder_id=reminder_id, now=local(today + timedelta(days=1), 8, 1))
    assert sent.status == Reminder.Status.SENT
    assert reminders.quiet_until(local(today, 12)) is None


@pytest.mark.django_db
def test_a_failed_send_goes_back_to_the_queue_and_the_retry_sends_once(settings, outbox):
    settings.COLLECTIONS_EMAIL_BACKEND = "tests.collections_app.test_reminders.FlakyBackend"
    FlakyBackend.calls = 0
    upcoming_plan()
    reminder_id = reminders.reminders_queue(on_date=days_ago(0))[0]
    with pytest.raises(ConnectionError):
        reminders.reminder_send(reminder_id=reminder_id)
    reminder = Reminder.objects.get(pk=reminder_id)
    assert reminder.status == Reminder.Status.QUEUED and "went away" in reminder.error
    assert reminders.reminder_send(reminder_id=reminder_id).status == Reminder.Status.SENT
    assert reminders.reminder_send(reminder_id=reminder_id).attempts == 2  # a redelivered task changes nothing
    assert len(list(outbox.iterdir())) == 1


@pytest.mark.django_db
def test_paid_installments_and_missing_addresses_are_skipped_not_sent(outbox):
    plan = upcoming_plan()
    Installment.objects.filter(plan=plan, number=1).update(status="overdue")
    ReminderRule.objects.filter(offset_days=7).update(channel="sms")
    ids = reminders.reminders_queue(on_date=days_ago(0))
    Installment.objects.filter(plan=plan, number=2).update(status="paid")
    outcomes = {r.rule.offset_days: r for r in (reminders.reminder_send(reminder_id=i) for i in ids)}
    assert outcomes[-3].status == "skipped" and "paid" in outcomes[-3].error
    assert outcomes[7].status == "skipped" and "SMS" in outcomes[7].error
    assert not outbox.exists()


@pytest.mark.django_db
def test_the_daily_task_fans_out_and_sends_in_process_without_a_broker(outbox, django_capture_on_commit_callbacks):
    from config.celery import app

    upcoming_plan()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # as without REDIS_URL
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.queue_reminders.apply(kwargs={"on_date": days_ago(0).isoformat()}).get() == {"queued": 1}
    finally:
        app.conf.task_always_eager = eager
    assert Reminder.objects.get().status == Reminder.Status.SENT
    assert len(list(outbox.iterdir())) == 1


@pytest.mark.django_db
def test_a_lost_worker_mid_send_is_not_resent():
    upcoming_plan()
    reminder_id = reminders.reminders_queue(on_date=days_ago(0))[0]
    Reminder.objects.filter(pk=reminder_id).update(status="sending", claimed_at=timezone.now() - timedelta(hours=1))
    assert reminders.reminders_queue(on_date=days_ago(0)) == []
    assert Reminder.objects.get(pk=reminder_id).status == Reminder.Status.FAILED


# --- With a real worker on Redis ---------------------------------------------------------------------

def wait_for(predicate, seconds=25.0):
    deadline = clock.monotonic() + seconds
    while clock.monotonic() < deadline:
        if predicate():
            return True
        clock.sleep(0.2)
    return False


@requires_redis
@pytest.mark.integration
def test_real_worker_sends_once_under_a_retry(celery_live_worker, settings, outbox):
    settings.COLLECTIONS_EMAIL_BACKEND = "tests.collections_app.test_reminders.FlakyBackend"
    FlakyBackend.calls = 0
    upcoming_plan()
    tasks.queue_reminders.delay(days_ago(0).isoformat())
    assert wait_for(lambda: Reminder.objects.filter(status=Reminder.Status.SENT).exists())
    reminder = Reminder.objects.get()
    assert reminder.attempts == 2 and FlakyBackend.calls == 2
    tasks.send_reminder.delay(reminder.pk)  # a duplicate message, as a redelivery would be
    clock.sleep(1.5)
    assert len(list(outbox.iterdir())) == 1


@requires_redis
@pytest.mark.integration
def test_real_worker_and_a_second_sender_at_once_send_once(celery_live_worker, settings, outbox):
    settings.COLLECTIONS_EMAIL_BACKEND = "tests.collections_app.test_reminders.SlowBackend"
    upcoming_plan()
    [reminder_id] = reminders.reminders_queue(on_date=days_ago(0))
    for _ in range(2):
        tasks.send_reminder.delay(reminder_id)
    # The test process acts as a second worker on the same row at the same moment.
    reminders.reminder_send(reminder_id=reminder_id)
    assert wait_for(lambda: Reminder.objects.get(pk=reminder_id).status == Reminder.Status.SENT)
    clock.sleep(2)
    assert len(list(outbox.iterdir())) == 1
    assert Reminder.objects.get(pk=reminder_id).attempts == 1
    assert Decimal("212.50") == Installment.objects.get(plan__reminders=reminder_id, number=2).amount_due
