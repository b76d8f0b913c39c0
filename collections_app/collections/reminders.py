"""Payment reminders: which to send today, and sending each exactly once.

Queueing (`reminders_queue`, daily from beat): for every active rule, the open installments whose
due date is `offset_days` before today get a `Reminder` row; the row is unique per (installment,
rule, day), so queueing twice, or from two workers, creates it once.

Sending (`reminder_send`, one task per row): the row is claimed with a conditional UPDATE
(queued/deferred -> sending) before anything is sent; only the worker whose UPDATE changed the row
sends, so two workers or a redelivered task never send twice. A backend failure puts the row back
to `queued` and the task retries; a worker lost between claim and send leaves the row `sending`,
which the next queueing marks failed for a person to look at rather than risk a duplicate.

Quiet hours (COLLECTIONS_QUIET_HOURS, default "21:00-08:00", local time): a reminder due in them is
deferred to their end. Messages use the customer's preferred language (English or Simplified
Chinese) and the templates in `collections_app/reminders/<language>/<template>.txt`.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from collections_app.models import Reminder, ReminderRule
from customers.notifications import OutgoingMessage, backend_for
from installments.models import Installment, Plan

logger = logging.getLogger(__name__)

REMINDED_STATES = (Plan.State.ACTIVE, Plan.State.OVERDUE, Plan.State.RESTRUCTURED)
SENDING_TIMEOUT = timedelta(minutes=15)
LANGUAGES = ("en", "zh-hans")


def quiet_hours() -> tuple[time, time] | None:
    """(start, end) in local time from COLLECTIONS_QUIET_HOURS ("21:00-08:00"); None when empty."""
    value = getattr(settings, "COLLECTIONS_QUIET_HOURS", "21:00-08:00")
    if not value:
        return None
    start, end = (time.fromisoformat(part.strip()) for part in value.split("-"))
    return start, end


def quiet_until(moment: datetime) -> datetime | None:
    """When quiet hours end, if `moment` falls in them; None otherwise."""
    window = quiet_hours()
    if window is None:
        return None
    start, end = window
    local = timezone.localtime(moment)
    now = local.time()
    inside = (start <= now < end) if start < end else (now >= start or now < end)
    if not inside:
        return None
    end_day = local.date() if now < end else local.date() + timedelta(days=1)
    return timezone.make_aware(datetime.combine(end_day, end), timezone.get_current_timezone())


def reminders_queue(*, on_date: date | None = None) -> list[int]:
    """Create today's reminder rows (once each) and return the ids ready to send now (new and
    still-queued rows, and deferred rows whose quiet hours have ended)."""
    on_date = on_date or timezone.localdate()
    now = timezone.now()
    Reminder.objects.filter(status=Reminder.Status.SENDING, claimed_at__lt=now - SENDING_TIMEOUT).update(
        status=Reminder.Status.FAILED, error="worker lost while sending; not re-sent to avoid a duplicate")
    rows = []
    for rule in ReminderRule.objects.filter(is_active=True):
        due = on_date - timedelta(days=rule.offset_days)
        statuses = [Installment.Status.PENDING, Installment.Status.DUE] if rule.offset_days <= 0 else [
            Installment.Status.DUE, Installment.Status.OVERDUE]
        targets = Installment.objects.filter(due_date=due, status__in=statuses,
                                             plan__state__in=REMINDED_STATES).values_list("pk", "plan_id",
                                                                                            "plan__customer_id")
        rows.extend(Reminder(installment_id=pk, rule=rule, scheduled_for=on_date, plan_id=plan_id,
                             customer_id=customer_id, channel=rule.channel) for pk, plan_id, customer_id in targets)
    Reminder.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    ready = Reminder.objects.filter(scheduled_for__lte=on_date, scheduled_for__gte=on_date - timedelta(days=1)).filter(
        Q(status=Reminder.Status.QUEUED) | Q(status=Reminder.Status.DEFERRED, defer_until__lte=now))
    return list(ready.order_by("pk").values_list("pk", flat=True))


def _context(reminder: Reminder) -> dict:
    installment = reminder.installment
    plan = reminder.plan
    decimals = plan.product.currency_decimals
    amount = installment.amount_outstanding
    site = getattr(settings, "SITE_URL", "http://localhost:8000").rstrip("/")
    return {
        "name": reminder.customer.get_full_name(),
        "plan_number": plan.number,
        "amount": f"{amount:,.{decimals}f}",
        "currency": plan.currency,
        "due_date": installment.due_date,
        "days_overdue": max((reminder.scheduled_for - installment.due_date).days, 0),
        "days_before": max((installment.due_date - reminder.scheduled_for).days, 0),
        "payment_link": site + reverse("collections:my_plan", args=[plan.pk]),
        "level": reminder.rule.escalation_level,
    }


def render(reminder: Reminder) -> tuple[str, str, str]:
    """(language, subject, body) in the customer's preferred language."""
    language = reminder.customer.preferred_language if reminder.customer.preferred_language in LANGUAGES else "en"
    name = f"collections_app/reminders/{language}/{reminder.rule.template_key}.txt"
    context = _context(reminder)
    with translation.override(language):
        subject = render_to_string(name, {**context, "part": "subject"}).strip()
        body = render_to_string(name, {**context, "part": reminder.channel}).strip()
    return language, " ".join(subject.split()), body


def _recipient(reminder: Reminder) -> str:
    if reminder.channel == "email":
        return reminder.customer.email
    profile = getattr(reminder.customer, "profile", None)
    return getattr(profile, "phone", "") or ""


def reminder_send(*, reminder_id: int, now: datetime | None = None) -> Reminder:
    """Send one reminder if nobody has: deferred in quiet hours, skipped when the installment is paid
    or there is no address, otherwise claimed then sent. Raises the backend's error after putting the
    row back to `queued` (the task retries)."""
    now = now or timezone.now()
    until = quiet_until(now)
    if until is not None:
        Reminder.objects.filter(pk=reminder_id, status__in=[Reminder.Status.QUEUED, Reminder.Status.DEFERRED]).update(
            status=Reminder.Status.DEFERRED, defer_until=until)
        return Reminder.objects.get(pk=reminder_id)
    claimed = Reminder.objects.filter(pk=reminder_id).filter(
        Q(status=Reminder.Status.QUEUED) | Q(status=Reminder.Status.DEFERRED, defer_until__lte=now)
    ).update(status=Reminder.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    reminder = Reminder.objects.select_related("installment", "plan__product", "customer", "rule").get(pk=reminder_id)
    if not claimed:
        return reminder  # sent, being sent, or skipped by someone else: never twice
    installment = reminder.installment
    if installment.status not in (Installment.Status.PENDING, Installment.Status.DUE, Installment.Status.OVERDUE) \
            or reminder.plan.state not in REMINDED_STATES:
        return _finish(reminder, Reminder.Status.SKIPPED, error="paid or no longer open before sending")
    language, subject, body = render(reminder)
    recipient = _recipient(reminder)
    Reminder.objects.filter(pk=reminder.pk).update(language=language, subject=subject[:200], body=body,
                                                   recipient=recipient[:254])
    reminder.language, reminder.subject, reminder.body, reminder.recipient = language, subject[:200], body, recipient
    if not recipient:
        return _finish(reminder, Reminder.Status.SKIPPED, error=f"no {reminder.get_channel_display()} address")
    message = OutgoingMessage(channel=reminder.channel, to=recipient, subject=subject, body=body,
                              reference=f"reminder-{reminder.pk}")
    try:
        provider_id = backend_for(reminder.channel).send(message)
    except Exception as error:
        Reminder.objects.filter(pk=reminder.pk, status=Reminder.Status.SENDING).update(
            status=Reminder.Status.QUEUED, error=f"{type(error).__name__}: {error}"[:1000])
        raise
    return _finish(reminder, Reminder.Status.SENT, provider_id=provider_id)


def _finish(reminder: Reminder, status: str, *, error: str = "", provider_id: str = "") -> Reminder:
    with transaction.atomic():
        Reminder.objects.filter(pk=reminder.pk).update(
            status=status, error=error, provider_message_id=(provider_id or "")[:200],
            sent_at=timezone.now() if status == Reminder.Status.SENT else None)
    reminder.refresh_from_db()
    return reminder
