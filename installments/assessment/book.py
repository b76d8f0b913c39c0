"""Our own book as training data and as the outcomes the fairness report and monitoring read:
the features each plan's application was scored on and the outcome "ever 30+ days past due within
12 months of disbursement" (`book_outcomes`, from the installments' value dates).

It reads plans and installments, so it lives above scoring, which trains on the frame it returns
(`manage.py train_scoring_model --from-book`).
"""

from __future__ import annotations

import calendar
from datetime import date

import pandas as pd
from django.utils import timezone
from django.utils.translation import gettext

from config.errors import DomainError
from installments.models import Installment, Plan
from scoring.features import FEATURE_NAMES
from scoring.training import MIN_TRAINING_CLASS_ROWS, MIN_TRAINING_ROWS

BOOK_OUTCOME_MONTHS = 12
BOOK_BAD_DAYS_PAST_DUE = 30
BOOK_TARGET_DEFINITION = "ever 30+ days past due within 12 months of disbursement"


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def book_outcomes(plans: list[dict], *, months: int = BOOK_OUTCOME_MONTHS,
                  days: int = BOOK_BAD_DAYS_PAST_DUE) -> dict[int, int]:
    """1 (bad) for each plan that was ever `days`+ days past due on an installment due within
    `months` of disbursement (still overdue that long, or paid that late); 0 otherwise.

    `plans` are dicts with `pk` and `disbursement_date`.
    """
    horizon = {p["pk"]: _add_months(p["disbursement_date"], months) for p in plans}
    outcome = dict.fromkeys(horizon, 0)
    # Lateness counts from the value date (when the money was received, `paid_on`), never from when
    # the payment was booked: a back-dated or batch-posted receipt is not a late payment.
    rows = Installment.objects.filter(plan_id__in=list(horizon)).values_list("plan_id", "due_date", "days_past_due",
                                                                            "paid_on", "status")
    for plan_id, due, dpd, paid_on, status in rows.iterator(chunk_size=5000):
        if due > horizon[plan_id]:
            continue
        late_days = dpd or 0
        if paid_on is not None and status == Installment.Status.PAID:
            late_days = (paid_on - due).days
        if late_days >= days:
            outcome[plan_id] = 1
    return outcome


def training_data_from_book(*, on: date | None = None) -> tuple[pd.DataFrame, pd.Series, str]:
    """Our own book as training data: the features each plan's application was scored on, and the
    outcome "ever 30+ days past due within 12 months". Only plans disbursed at least 12 months
    before `on` count. Raises DomainError saying clearly when there is not enough history."""
    on = on or timezone.localdate()
    cutoff = _add_months(on, -BOOK_OUTCOME_MONTHS)
    plans = list(Plan.objects.filter(disbursement_date__lte=cutoff, application__score_result__isnull=False)
                 .values("pk", "disbursement_date", "application__score_result__features"))
    if not plans:
        total = Plan.objects.count()
        raise DomainError(gettext("No plan has 12 months of repayment history yet (plans disbursed on or before "
                                  "%(cutoff)s with a stored score: none; plans in the book: %(total)s). Retraining "
                                  "from our own book needs them; keep using the current model.")
                          % {"cutoff": cutoff.isoformat(), "total": total}, field="from_book", code="no_history")
    outcomes = book_outcomes(plans)
    X = pd.DataFrame.from_records(  # noqa: N806
        [p["application__score_result__features"] for p in plans], index=[p["pk"] for p in plans],
    ).reindex(columns=list(FEATURE_NAMES))
    y = pd.Series([outcomes[p["pk"]] for p in plans], index=X.index, name="bad", dtype="int64")
    goods, bads = int((y == 0).sum()), int((y == 1).sum())
    if len(y) < MIN_TRAINING_ROWS or min(goods, bads) < MIN_TRAINING_CLASS_ROWS:
        raise DomainError(gettext("Our book has %(n)s plans with 12 months of history (%(bads)s bad, %(goods)s "
                                  "good); at least %(min)s plans with %(cls)s of each outcome are needed to train.")
                          % {"n": len(y), "bads": bads, "goods": goods, "min": MIN_TRAINING_ROWS,
                             "cls": MIN_TRAINING_CLASS_ROWS}, field="from_book", code="not_enough_history")
    source = f"Own book: {len(y)} plans disbursed on or before {cutoff.isoformat()} (as of {on.isoformat()})"
    return X, y, source
