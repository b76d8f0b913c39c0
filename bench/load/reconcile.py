"""After the load: every submission and payment the load test saw accepted is in the database
exactly once, and nothing else was stored. Run by bench/bench_load.sh; exits 1 naming every
missing, duplicate or unexpected row.

    python bench/load/reconcile.py ACCEPTED_JSON ACCOUNTS_JSON

Submissions (application ids from the 302 after the review step):
- each id is distinct, exists, belongs to a load applicant and is no longer a draft;
- each has exactly one audit event for the move to `submitted`, and its draft is marked submitted;
- the load applicants' submitted applications are exactly the accepted ids (no unacknowledged
  submission, no applicant with two).
Payments (the Idempotency-Key of each 201):
- each key is stored exactly once, posted, for 1.00, with allocated + credited + prepaid = amount
  and allocation rows adding up to the allocated amount;
- the self-service payments on the load plans are exactly the accepted keys.
"""

import json
import os
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.contenttypes.models import ContentType  # noqa: E402
from django.db.models import Count, Sum  # noqa: E402

from collections_app.models import Payment  # noqa: E402
from customers.models import ApplicationDraft, AuditEvent  # noqa: E402
from installments.models import Application  # noqa: E402

APPLICANTS = {"customer__email__startswith": "load-applicant-"}


def _sample(values) -> str:
    values = sorted(values, key=str)
    return ", ".join(map(str, values[:10])) + (f" ... ({len(values)} in all)" if len(values) > 10 else "")


def check_submissions(ids: list[int]) -> list[str]:
    problems = []
    repeated = [i for i, n in Counter(ids).items() if n > 1]
    if repeated:
        problems.append(f"submissions accepted more than once: {_sample(repeated)}")
    accepted = set(ids)
    stored = dict(Application.objects.filter(pk__in=accepted, **APPLICANTS).values_list("pk", "state"))
    missing = accepted - stored.keys()
    if missing:
        problems.append(f"accepted submissions not in the database: {_sample(missing)}")
    drafts = {pk for pk, state in stored.items() if state == Application.State.DRAFT}
    if drafts:
        problems.append(f"accepted submissions still drafts: {_sample(drafts)}")
    submitted = set(Application.objects.filter(**APPLICANTS).exclude(state=Application.State.DRAFT)
                    .values_list("pk", flat=True))
    if submitted - accepted:
        problems.append(f"submitted applications nobody was told about: {_sample(submitted - accepted)}")
    twice = (Application.objects.filter(**APPLICANTS).exclude(state=Application.State.DRAFT)
             .values("customer").annotate(n=Count("pk")).filter(n__gt=1).values_list("customer", flat=True))
    if twice:
        problems.append(f"applicants with more than one submitted application: {_sample(twice)}")
    events = Counter(AuditEvent.objects.filter(
        target_type=ContentType.objects.get_for_model(Application), target_id__in=[str(i) for i in accepted],
        action="application.state", to_state=Application.State.SUBMITTED).values_list("target_id", flat=True))
    wrong_events = {i for i in accepted if events.get(str(i), 0) != 1}
    if wrong_events:
        problems.append(f"submissions without exactly one 'submitted' audit event: {_sample(wrong_events)}")
    open_drafts = set(ApplicationDraft.objects.filter(application_id__in=accepted, submitted_at__isnull=True)
                      .values_list("application_id", flat=True))
    if open_drafts:
        problems.append(f"submissions whose draft is still open: {_sample(open_drafts)}")
    return problems


def check_payments(keys: list[str], plan_ids: list[int]) -> list[str]:
    problems = []
    repeated = [k for k, n in Counter(keys).items() if n > 1]
    if repeated:
        problems.append(f"payment keys accepted more than once: {_sample(repeated)}")
    accepted = set(keys)
    rows = Counter(Payment.objects.filter(idempotency_key__in=accepted).values_list("idempotency_key", flat=True))
    missing = accepted - rows.keys()
    if missing:
        problems.append(f"accepted payments not in the database: {_sample(missing)}")
    duplicated = [k for k, n in rows.items() if n > 1]
    if duplicated:
        problems.append(f"payments stored more than once: {_sample(duplicated)}")
    stored = set(Payment.objects.filter(plan_id__in=plan_ids, channel=Payment.Channel.SELF_SERVICE)
                 .values_list("idempotency_key", flat=True))
    if stored - accepted:
        problems.append(f"payments stored that nobody was told about: {_sample(stored - accepted)}")
    unbalanced = []
    payments = (Payment.objects.filter(idempotency_key__in=accepted)
                .annotate(allocations_total=Sum("allocations__amount")))
    for payment in payments:
        parts = payment.allocated_amount + payment.credited_amount + payment.prepaid_amount
        if (payment.state != Payment.State.POSTED or payment.amount != Decimal("1.00") or parts != payment.amount
                or (payment.allocations_total or Decimal("0")) != payment.allocated_amount):
            unbalanced.append(payment.idempotency_key)
    if unbalanced:
        problems.append(f"payments not posted for 1.00 or not adding up: {_sample(unbalanced)}")
    return problems


def main(accepted_path: str, accounts_path: str) -> int:
    accepted = json.loads(Path(accepted_path).read_text())
    accounts = json.loads(Path(accounts_path).read_text())
    submissions, payments = accepted["submissions"], accepted["payments"]
    problems = []
    # USER_CLASSES (bench_load.sh) runs only part of the mix; a part that ran must have been accepted.
    ran = set(os.environ.get("USER_CLASSES", "").split()) or {"Applicant", "Payer"}
    if not submissions and "Applicant" in ran:
        problems.append("no submission was accepted")
    if not payments and "Payer" in ran:
        problems.append("no payment was accepted")
    problems += check_submissions(submissions)
    problems += check_payments(payments, [p["plan"] for p in accounts["payers"]])
    print(f"submissions accepted {len(submissions)}, payments accepted {len(payments)}")
    for problem in problems:
        print(f"  MISMATCH: {problem}")
    print("reconciliation:", "OK, each exactly once and nothing else stored" if not problems else "FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
