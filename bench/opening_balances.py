"""Opening balances of a generated book, posted to the general ledger as one set-based entry.

A generated book (INSERT ... SELECT generate_series) bypasses the services, so its plans have no
ledger postings and the close of business's reconciliation would break. Like a lender migrating from
a previous system, the bench posts ONE entry (event "manual") that sets every plan's balance-sheet
accounts to its sub-ledger as of a day (the day before the first close of business): loans receivable,
interest / fee / late-charge receivable, customer credit (-credit_balance) and each payment channel's
clearing account (the payments posted through it), exactly what `posting.reconcile` expects; the
counter-side is retained earnings (3101), one summary line per product (plan_id NULL). One SELECT over
the book, no Python loop over plans. The day is recorded as the last closed business day (the
previous system closed it), so the first close of business accrues from there.
"""

from __future__ import annotations

import importlib
from datetime import date

OPENING_MEMO = "opening balances of the generated book"
RETAINED_EARNINGS = "3101"


def ensure_books_defaults() -> None:
    """The books' default rows (chart of accounts, default account mappings, classification policy,
    clearing accounts) that migrations 0006 and 0007 create: re-created idempotently (get_or_create)
    in case the database was built without them, then checked."""
    from django.apps import apps

    from collections_app.ledger import accounts as ledger_accounts
    from collections_app.ledger.models import AccountMapping, AccountRole, ClassificationPolicy, LedgerAccount
    from installments.models import LoanProduct

    importlib.import_module("collections_app.migrations.0006_default_chart_of_accounts").create_chart(apps, None)
    importlib.import_module("collections_app.migrations.0007_books_posting").create_defaults(apps, None)
    missing = sorted(set(AccountRole.values) - set(
        AccountMapping.objects.filter(product__isnull=True).values_list("role", flat=True)))
    if missing:
        raise SystemExit(f"the bench database has no default account mapping for: {', '.join(missing)}")
    if not LedgerAccount.objects.filter(code=RETAINED_EARNINGS, is_active=True).exists():
        raise SystemExit(f"the bench database has no active account {RETAINED_EARNINGS} (retained earnings)")
    if not ClassificationPolicy.objects.exists():
        raise SystemExit("the bench database has no classification policy")
    for product_id in LoanProduct.objects.values_list("pk", flat=True):
        ledger_accounts.accounts_for(product_id)  # raises DomainError when a role maps to nothing usable


def opening_lines_sql() -> str:
    """The entry's lines (plan_id, product_id, account_id, debit, credit) with the sub-ledger through
    %(d)s: the same figures `posting.reconcile` compares (per plan and account)."""
    from collections_app.collections import cob
    from collections_app.ledger import accounts as ledger_accounts
    from collections_app.ledger import posting
    from collections_app.ledger.models import LedgerAccount
    from collections_app.models import Payment

    sql = cob._Dialect("postgresql")
    roles = [str(role) for role in posting.BALANCE_ROLES]
    P, account_table, payment = cob.T.plan, LedgerAccount._meta.db_table, Payment._meta.db_table  # noqa: N806
    retained = LedgerAccount.objects.get(code=RETAINED_EARNINGS).pk
    # As reconcile(): every plan, its sub-ledger (none for a written-off plan), its credit balance.
    expected = {"principal": "COALESCE(s.principal, 0)", "interest_receivable": "COALESCE(s.interest, 0)",
                "fee_receivable": "COALESCE(s.fee, 0)", "penalty_receivable": "COALESCE(s.penalty, 0)",
                "customer_credit": "-CAST(ROUND(p.credit_balance * 100) AS BIGINT)"}
    values = ", ".join(f"(m.{r}, {expected[r]})" for r in roles)
    return f"""
        WITH balances AS (
            SELECT p.id AS plan_id, p.product_id, v.account_id, v.cents
            FROM {P} p JOIN ({ledger_accounts.mapping_sql(roles)}) m ON m.product_id = p.product_id
            LEFT JOIN ({posting._subledger_sql(sql, live_only=False, tables=cob.T)}) s ON s.plan_id = p.id
            CROSS JOIN LATERAL (VALUES {values}) AS v(account_id, cents)
            WHERE v.cents <> 0
            UNION ALL
            -- each channel's clearing account: the payments posted through it, per plan
            SELECT pm.plan_id, p.product_id, a.id, CAST(ROUND(SUM(pm.amount) * 100) AS BIGINT)
            FROM {payment} pm JOIN {P} p ON p.id = pm.plan_id
            JOIN {account_table} a ON a.channel = pm.channel AND a.channel <> ''
            WHERE pm.state = '{Payment.State.POSTED}'
            GROUP BY pm.plan_id, p.product_id, a.id
            HAVING SUM(pm.amount) <> 0
        )
        SELECT plan_id, product_id, account_id,
               CASE WHEN cents > 0 THEN cents / 100.0 ELSE 0 END AS debit,
               CASE WHEN cents < 0 THEN -cents / 100.0 ELSE 0 END AS credit
        FROM balances
        UNION ALL
        SELECT NULL, product_id, {int(retained)},
               CASE WHEN SUM(cents) < 0 THEN -SUM(cents) / 100.0 ELSE 0 END,
               CASE WHEN SUM(cents) > 0 THEN SUM(cents) / 100.0 ELSE 0 END
        FROM balances GROUP BY product_id HAVING SUM(cents) <> 0
    """


def post_opening_balances(as_of: date):
    """Post the opening entry with value date `as_of` (sub-ledger through `as_of`) and record `as_of` as
    the last closed business day (a done `CobRun`, as the previous system had closed it): the close of
    business accrues only what a day earned since the last closed day (`posting.accrue`), so without
    it the first close would accrue the whole history's interest and fees again on top of the opening
    balances. Returns the entry (None when the book holds nothing)."""
    from django.db import transaction
    from django.utils import timezone

    from collections_app.ledger.models import EventType
    from collections_app.ledger.services import journal_post_bulk
    from collections_app.models import CobRun

    with transaction.atomic():
        entry = journal_post_bulk(value_date=as_of, event_type=EventType.MANUAL, lines_sql=opening_lines_sql(),
                                  params={"d": as_of.isoformat()}, memo=OPENING_MEMO)
        lines = entry.lines.count() if entry is not None else 0
        CobRun.objects.update_or_create(business_date=as_of, defaults={
            "status": CobRun.Status.DONE, "attempts": 1, "finished_at": timezone.now(), "duration_ms": 0,
            "triggered_by": "opening balances", "counts": {"opening_lines": lines}})
        return entry
