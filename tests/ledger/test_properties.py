"""Random sequences of balanced postings and reversals keep the books balanced: the trial balance's
debits equal its credits, and every account's balance equals the sum of its lines."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collections_app.ledger import selectors, services
from collections_app.ledger.models import EventType, JournalEntry, LedgerAccount
from tests.ledger.conftest import ensure_chart

CODES = ["1001", "1101", "1102", "1103", "1104", "1201", "1202", "1301", "1401", "2101", "4101", "4102",
         "4103", "4104", "5101", "5102"]
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)


@st.composite
def balanced_lines(draw):
    """2-5 lines: random debits, and credits that split the same total."""
    debits = draw(st.lists(st.tuples(st.sampled_from(CODES), amounts), min_size=1, max_size=3))
    total = sum(amount for _code, amount in debits)
    credit_codes = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=2))
    cents = int(total * 100)
    if len(credit_codes) == 2 and cents >= 2:
        first = Decimal(draw(st.integers(min_value=1, max_value=cents - 1))) / 100
        credits = [(credit_codes[0], first), (credit_codes[1], total - first)]
    else:
        credits = [(credit_codes[0], total)]
    return [(code, amount, 0, None) for code, amount in debits] + [(code, 0, amount, None) for code, amount in credits]


steps = st.lists(st.one_of(
    st.tuples(st.just("post"), st.integers(min_value=0, max_value=60), st.sampled_from(EventType.values),
              balanced_lines()),
    st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=50)),
), min_size=1, max_size=12)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_random_postings_and_reversals_keep_the_books_balanced(steps):
    start = date(2026, 1, 1)
    try:
        with transaction.atomic():
            ensure_chart()
            posted = []
            for step in steps:
                if step[0] == "post":
                    _kind, days, event, lines = step
                    posted.append(services.journal_post(value_date=start + timedelta(days=days),
                                                        event_type=event, lines=lines))
                elif posted:
                    entry = posted[step[1] % len(posted)]
                    if entry.reverses_id is None and not JournalEntry.objects.filter(reverses=entry).exists():
                        posted.append(services.journal_reverse(entry=entry, actor=None, reason="property test"))
            balance = selectors.trial_balance(start + timedelta(days=400))
            assert balance.is_balanced
            for row in balance.rows:
                sums = row.account.lines.aggregate(d=Sum("debit", default=Decimal(0)), c=Sum("credit", default=Decimal(0)))
                net = sums["d"] - sums["c"]
                assert row.balance == (net if row.account.is_debit_normal else -net)
                assert row.balance == selectors.account_balance(row.account)
            for entry in posted:
                sums = entry.lines.aggregate(d=Sum("debit"), c=Sum("credit"))
                assert sums["d"] == sums["c"] and entry.lines.count() >= 2
            assert LedgerAccount.objects.count() >= len(CODES)
            raise _RollBack
    except _RollBack:
        pass


class _RollBack(Exception):
    """Undo one example's postings so the next starts from empty books."""
