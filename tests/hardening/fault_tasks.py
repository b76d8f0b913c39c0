"""A Celery task for the worker-kill test (loaded by the test's own worker with --include).

It posts a payment through the idempotent service, notes each attempt in a file, then hangs so the
test can kill the worker after the effect but before the acknowledgement (acks_late): the message
is delivered again and the service must replay, not post twice.
"""

import os
import time
from decimal import Decimal
from pathlib import Path

from config.celery import app


@app.task(name="hardening.record_payment_then_hang", acks_late=True, reject_on_worker_lost=True)
def record_payment_then_hang(plan_id: int, officer_id: int, key: str, attempts_file: str, hang_seconds: float) -> int:
    from collections_app.servicing.payments import payment_record
    from customers.models import User
    from installments.models import Plan

    plan = Plan.objects.get(pk=plan_id)
    payment = payment_record(plan=plan, amount=Decimal("25.00"), channel="officer", idempotency_key=key,
                             by=User.objects.get(pk=officer_id))
    with Path(attempts_file).open("a") as attempts:
        attempts.write(f"{payment.pk} {'replayed' if payment.replayed else 'posted'} {os.getpid()}\n")
    time.sleep(hang_seconds)
    return payment.pk


def _hold_scoring(notes_file: str, hold_seconds: float) -> None:
    """The scoring-kill test's worker (HARDENING_HOLD_SCORING=<file>): note the application and the
    process in the file, then hold each scoring task before scoring, so the test can kill the worker
    while it holds the message (not acknowledged: acks_late)."""
    from installments.assessment import online

    real_score = online.application_score

    def held_score(*, application_id: int):
        with Path(notes_file).open("a") as notes:
            notes.write(f"{application_id} {os.getpid()}\n")
        time.sleep(hold_seconds)
        return real_score(application_id=application_id)

    online.application_score = held_score


if os.environ.get("HARDENING_HOLD_SCORING"):
    _hold_scoring(os.environ["HARDENING_HOLD_SCORING"], float(os.environ.get("HARDENING_HOLD_SECONDS", "120")))
