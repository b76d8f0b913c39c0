"""Payment allocation, the pure function: order, exactness, remainder."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collections_app.servicing.allocation import COMPONENTS, Due, allocate

D = Decimal


def due(pk, day, **parts):
    return Due(installment_id=pk, due_date=day, number=pk, outstanding={k: D(v) for k, v in parts.items()})


OLD = due(1, date(2026, 1, 15), penalty="5", fee="2", interest="10", principal="100")
NEW = due(2, date(2026, 2, 15), penalty="3", fee="2", interest="9", principal="101")


def test_by_installment_pays_the_oldest_in_full_penalty_fee_interest_principal_first():
    result = allocate(D("120"), [NEW, OLD])
    assert [(a.installment_id, a.component, a.amount) for a in result.allocations] == [
        (1, "penalty", D("5")), (1, "fee", D("2")), (1, "interest", D("10")), (1, "principal", D("100")),
        (2, "penalty", D("3")),
    ]
    assert result.remainder == 0 and result.allocated == D("120")


def test_by_component_pays_all_late_charges_before_any_fee_then_interest_then_principal():
    result = allocate(D("30"), [NEW, OLD], mode="by_component")
    assert [(a.installment_id, a.component, a.amount) for a in result.allocations] == [
        (1, "penalty", D("5")), (2, "penalty", D("3")), (1, "fee", D("2")), (2, "fee", D("2")),
        (1, "interest", D("10")), (2, "interest", D("8")),
    ]


def test_a_configured_order_is_followed():
    result = allocate(D("10"), [OLD], order=("principal", "interest", "fee", "penalty"))
    assert [(a.component, a.amount) for a in result.allocations] == [("principal", D("10"))]


def test_what_exceeds_everything_owed_is_the_remainder():
    result = allocate(D("500"), [OLD, NEW])
    assert result.allocated == D("232") and result.remainder == D("268")


def test_bad_order_or_mode_is_refused():
    with pytest.raises(ValueError):
        allocate(D("1"), [OLD], order=("penalty", "fee"))
    with pytest.raises(ValueError):
        allocate(D("1"), [OLD], mode="random")


money = st.decimals(min_value=0, max_value=5000, places=2, allow_nan=False, allow_infinity=False)


@given(amount=money, parts=st.lists(st.tuples(money, money, money, money), min_size=0, max_size=6),
       mode=st.sampled_from(["by_installment", "by_component"]))
def test_allocations_add_up_exactly_and_never_overpay_a_component(amount, parts, mode):
    dues = [Due(i, date(2026, 1 + i % 12, 1), i, dict(zip(COMPONENTS, p, strict=True))) for i, p in enumerate(parts)]
    result = allocate(amount, dues, mode=mode)
    assert sum((a.amount for a in result.allocations), D(0)) + result.remainder == amount
    paid = {}
    for a in result.allocations:
        assert a.amount > 0
        paid[(a.installment_id, a.component)] = paid.get((a.installment_id, a.component), D(0)) + a.amount
    for d in dues:
        for c in COMPONENTS:
            assert paid.get((d.installment_id, c), D(0)) <= d.owed(c)
    owed = sum((d.owed(c) for d in dues for c in COMPONENTS), D(0))
    assert result.remainder == max(amount - owed, D(0))
