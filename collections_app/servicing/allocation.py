"""Payment allocation: which installment components a payment pays, in which order. Pure Python.

Two orders, chosen per product by its servicing policy:

* `by_installment` (default): the oldest installment first, each paid in full in the component
  order (penalty -> fee -> interest -> principal) before the next installment gets anything. Arrears
  are cleared oldest first, so the days past due fall as soon as possible.
* `by_component`: the first component of every installment (oldest first), then the next
  component, and so on: all late charges before any fee, all fees before any interest, ...

"Oldest" is the due date, then the installment number, then the id. Amounts are Decimals in the
currency's minor unit; nothing is rounded here: every allocation is an exact part of the payment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

COMPONENTS = ("penalty", "fee", "interest", "principal")
MODES = ("by_installment", "by_component")


@dataclass(frozen=True)
class Due:
    """What one installment still owes, by component."""

    installment_id: int
    due_date: date
    number: int
    outstanding: dict[str, Decimal] = field(default_factory=dict)

    def owed(self, component: str) -> Decimal:
        return self.outstanding.get(component, Decimal(0))


@dataclass(frozen=True)
class Allocation:
    installment_id: int
    component: str
    amount: Decimal


@dataclass(frozen=True)
class Result:
    allocations: list[Allocation]
    allocated: Decimal
    remainder: Decimal


def _check(amount: Decimal, order: Sequence[str], mode: str) -> None:
    if not isinstance(amount, Decimal) or amount < 0:
        raise ValueError("amount must be a non-negative Decimal")
    if sorted(order) != sorted(COMPONENTS):
        raise ValueError(f"order must list each of {', '.join(COMPONENTS)} once")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")


def allocate(amount: Decimal, dues: Iterable[Due], *, order: Sequence[str] = COMPONENTS,
             mode: str = "by_installment") -> Result:
    """Split `amount` over `dues`. Returns the allocations (none of zero), their sum and what is left.

    The sum of the allocations plus the remainder is exactly `amount`; no component receives more
    than it owes.
    """
    _check(amount, order, mode)
    ordered = sorted(dues, key=lambda d: (d.due_date, d.number, d.installment_id))
    if mode == "by_installment":
        steps = [(due, component) for due in ordered for component in order]
    else:
        steps = [(due, component) for component in order for due in ordered]
    left = amount
    allocations: list[Allocation] = []
    for due, component in steps:
        if not left:
            break
        owed = due.owed(component)
        if owed <= 0:
            continue
        paid = min(owed, left)
        allocations.append(Allocation(due.installment_id, component, paid))
        left -= paid
    return Result(allocations=allocations, allocated=amount - left, remainder=left)


def total_owed(dues: Iterable[Due]) -> Decimal:
    return sum((d.owed(c) for d in dues for c in COMPONENTS), Decimal(0))
