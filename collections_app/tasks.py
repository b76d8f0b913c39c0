"""Celery tasks of servicing and collections: thin wrappers around `cob`, `reminders` and services.

Routing (settings.CELERY_TASK_ROUTES): `send_*` go to the `notifications` queue, the rest to
`batch`. Tasks take ids or ISO dates, are idempotent (a closed day is skipped, a reminder row is
claimed before sending) and acknowledged late; fan-out is enqueued on commit so a worker never
sees uncommitted rows. Beat schedules are django-celery-beat PeriodicTasks (migration 0002).
"""

import logging
from datetime import date

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction

from collections_app.collections import cob, reminders
from collections_app.models import Reminder
from config.celery import RetryingTask
from config.errors import DomainError
from customers import outbox

logger = logging.getLogger(__name__)

RETRY_ON = (ConnectionError, TimeoutError, OSError, OperationalError, InterfaceError)
SEND_REMINDER = "collections_app.tasks.send_reminder"


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@shared_task(base=RetryingTask, bind=True, acks_late=True, autoretry_for=RETRY_ON,
             name="collections_app.tasks.run_close_of_business")
def run_close_of_business(self, business_date: str | None = None) -> dict:
    """Close the books through `business_date` (default yesterday), catching up missed days in order."""
    try:
        runs = cob.run_cob(_date(business_date), triggered_by="beat" if business_date is None else "task")
    except DomainError as error:
        logger.warning("Close of business not run: %s", error.message)
        return {"error": error.message}
    return {str(r.business_date): ("skipped" if getattr(r, "skipped", False) else r.counts) for r in runs}


@shared_task(base=RetryingTask, bind=True, acks_late=True, autoretry_for=RETRY_ON,
             name="collections_app.tasks.queue_reminders")
def queue_reminders(self, on_date: str | None = None) -> dict:
    """Daily: claim today's reminders by the active rules and fan out one `send_reminder` per row."""
    with transaction.atomic():
        ids = reminders.reminders_queue(on_date=_date(on_date))
        for reminder_id in ids:
            outbox.enqueue(SEND_REMINDER, args=[reminder_id])  # published after commit
    return {"queued": len(ids)}


@shared_task(base=RetryingTask, bind=True, acks_late=True, autoretry_for=RETRY_ON,
             name="collections_app.tasks.send_reminder")
def send_reminder(self, reminder_id: int) -> str:
    """Send one reminder exactly once (see `reminders.reminder_send`); in quiet hours it comes back
    when they end."""
    reminder = reminders.reminder_send(reminder_id=reminder_id)
    if reminder.status == Reminder.Status.DEFERRED and reminder.defer_until and not self.request.is_eager:
        # In-process (eager) runs leave it deferred: the next queueing picks it up. The outbox holds it
        # until then (an ETA message in Redis would come back every visibility timeout).
        outbox.enqueue(SEND_REMINDER, args=[reminder_id], not_before=reminder.defer_until)
    return reminder.status
