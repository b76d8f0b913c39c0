"""The transactional outbox: Celery work queued in the same transaction as the business change.

`enqueue(task_name, args=..., kwargs=...)` writes an `OutboxTask` row inside the caller's transaction
and, once that commits, publishes the task by name with a short, single-attempt broker call. A
rolled-back change queues nothing; a broker that is down, slow or restarted loses nothing:

- publishing fails (Redis down): the row stays due and the request goes on at once (bounded by the
  broker timeouts in settings; no retries in the request);
- the dispatcher (`dispatch`, the beat task `customers.tasks.dispatch_outbox` every minute and once
  when a worker starts) publishes the rows that are due, oldest first, and stops at the first
  broker error;
- the message is lost after publishing (a Redis restart without persistence, a worker killed
  beyond what acks_late + visibility timeout recover): the worker marks the row done when the task
  has run (`task_success`), so a row published but not done after `OUTBOX_RESEND_AFTER` seconds is
  published again, with the wait doubling on each attempt, at most `OUTBOX_MAX_ATTEMPTS` times.

Tasks queued here are idempotent (they take ids and claim or check their row), so the rare double
delivery (resent while the first copy was only slow) is harmless. A task whose start must wait
(`not_before`, e.g. a reminder deferred past quiet hours) stays here until then instead of sitting in
Redis as an ETA message (which the visibility timeout would deliver again and again).

Without a broker (no REDIS_URL: tasks run eagerly) the task runs in-process when the transaction
commits, as before; the row records it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery.signals import task_failure, task_success
from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from config.celery import app
from config.celery import enqueue as publish
from customers.models import OutboxTask

logger = logging.getLogger(__name__)

HEADER = "outbox_id"  # the message header that names the row (the worker marks it done)
# A row is left to the on-commit publish this long before the dispatcher takes it over.
FIRST_PUBLISH_GRACE = timedelta(seconds=30)


def _resend_after(attempts: int) -> timedelta:
    base = getattr(settings, "OUTBOX_RESEND_AFTER", 240)
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600))


def enqueue(task_name: str, *, args: list | tuple = (), kwargs: dict | None = None,
            not_before: datetime | None = None, at_once: bool = False) -> OutboxTask:
    """Queue `task_name` (a Celery task name) with JSON arguments as part of the current transaction:
    the row is written now and the task published after commit (at once outside a transaction).

    `not_before`: leave it to the dispatcher until then. `at_once`: publish now, not after commit,
    for a request that has nothing to commit with it (the row is still the record if it fails).
    """
    now = timezone.now()
    later = not_before is not None and not_before > now
    row = OutboxTask.objects.create(task_name=task_name, args=list(args), kwargs=kwargs or {},
                                    created_at=now, not_before=not_before if later else None,
                                    due_at=not_before if later else now + FIRST_PUBLISH_GRACE)
    if later:
        return row
    pk, row_args, row_kwargs = row.pk, list(args), kwargs or {}
    if at_once:
        if _publish(pk, task_name, row_args, row_kwargs, attempts=0):
            row.dispatched_at = timezone.now()
    else:
        transaction.on_commit(lambda: _publish(pk, task_name, row_args, row_kwargs, attempts=0), robust=True)
    return row


def _publish(pk: int, task_name: str, args: list, kwargs: dict, *, attempts: int) -> bool:
    """Publish one row's task (one bounded attempt) and record the outcome on the row."""
    try:
        publish(task_name, args=args, kwargs=kwargs, headers={HEADER: pk}, retry=False, ignore_result=True)
    except Exception as error:  # broker down or slow: the dispatcher publishes it later
        if app.conf.task_always_eager:  # in-process: the task itself failed (it is not retried here)
            logger.exception("Task %s (outbox %s) failed in-process.", task_name, pk)
            OutboxTask.objects.filter(pk=pk).update(dispatched_at=timezone.now(), attempts=F("attempts") + 1,
                                                    last_error=_describe(error), due_at=None)
            return False
        logger.warning("Task %s (outbox %s) could not be queued now (%s); the dispatcher will resend it.",
                       task_name, pk, type(error).__name__)
        OutboxTask.objects.filter(pk=pk).update(last_error=_describe(error), due_at=timezone.now())
        return False
    now = timezone.now()
    # A fast worker may have marked it done already: then nothing is due any more.
    OutboxTask.objects.filter(pk=pk).update(dispatched_at=now, attempts=F("attempts") + 1, due_at=Case(
        When(done_at__isnull=True, then=Value(now + _resend_after(attempts + 1))), default=None))
    return True


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:1000]


def dispatch(*, limit: int = 500) -> dict:
    """Publish the rows that are due: never published (the broker was down at commit), deferred
    until now, or published but not done after the resend delay. Stops at the first broker error."""
    now = timezone.now()
    max_attempts = getattr(settings, "OUTBOX_MAX_ATTEMPTS", 10)
    published, failed = [], None
    with transaction.atomic():
        due = list(OutboxTask.objects.select_for_update(skip_locked=True)
                   .filter(done_at__isnull=True, due_at__lte=now, attempts__lt=max_attempts)
                   .order_by("due_at", "pk")[:limit])
        for row in due:
            if _publish(row.pk, row.task_name, row.args, row.kwargs, attempts=row.attempts):
                published.append(row.pk)
            elif not app.conf.task_always_eager:
                failed = row.pk
                break
    gave_up = (OutboxTask.objects.filter(done_at__isnull=True, attempts__gte=max_attempts, due_at__lte=now)
               .update(due_at=None, last_error=f"gave up after {max_attempts} attempts"))
    if gave_up:
        logger.error("Outbox: %s task(s) gave up after %s attempts (see the admin).", gave_up, max_attempts)
    return {"published": len(published), "stopped_at": failed, "gave_up": gave_up, "purged": purge()}


def purge(*, older_than_days: int | None = None, limit: int = 10000) -> int:
    """Delete done rows older than OUTBOX_KEEP_DAYS (default 7), at most `limit` at a time."""
    days = older_than_days if older_than_days is not None else getattr(settings, "OUTBOX_KEEP_DAYS", 7)
    cutoff = timezone.now() - timedelta(days=days)
    old = list(OutboxTask.objects.filter(done_at__lt=cutoff).values_list("pk", flat=True)[:limit])
    return OutboxTask.objects.filter(pk__in=old).delete()[0] if old else 0


# --- The worker reports back ---------------------------------------------------------------------

def _outbox_id(request) -> int | None:
    value = getattr(request, HEADER, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(HEADER)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@task_success.connect(dispatch_uid="customers.outbox.done")
def _mark_done(sender=None, **_):
    pk = _outbox_id(getattr(sender, "request", None))
    if pk is not None:
        OutboxTask.objects.filter(pk=pk, done_at__isnull=True).update(done_at=timezone.now(), due_at=None)


@task_failure.connect(dispatch_uid="customers.outbox.failed")
def _note_failure(sender=None, exception=None, **_):
    pk = _outbox_id(getattr(sender, "request", None))
    if pk is not None:
        OutboxTask.objects.filter(pk=pk).update(last_error=_describe(exception))
