"""Adapters between stored plans and the pure schedule engine (`installments.engine.schedules`).

A schedule version stores the engine's `PlanTerms` as JSON (`ScheduleVersion.terms`) and the
engine's schedule (`ScheduleVersion.disclosure["schedule"]`, as `schedule_to_dict` gives it, with
signed principal and balances), so any version can be handed back to the engine exactly
(`version_schedule`). The installment rows are the obligations derived from it.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

from installments.engine.offers import offer_terms_to_dict
from installments.engine.schedules import (
    Installment as EngineRow,
)
from installments.engine.schedules import (
    PlanTerms,
    Schedule,
    ScheduleError,
    schedule_from_rows,
)

TERM_FIELDS = {f.name: f for f in dataclasses.fields(PlanTerms)}
_DECIMALS = {"amount", "annual_rate", "upfront_fee", "monthly_fee", "installment_multiple", "balloon_amount",
             "step_ratio", "seasonal_factor", "lump_sum_share", "lump_sum_amount"}
_INTEGERS = {"term", "due_day", "currency_decimals", "step_count", "principal_grace_periods",
             "interest_grace_periods"}
_DATES = {"disbursement_date", "first_due_date"}
_ALIASES = {"term_months": "term", "rate": "annual_rate", "plan_type": "method"}


def terms_to_json(terms: PlanTerms) -> dict:
    """PlanTerms as JSON-safe values: the offer engine's own form (Decimals and dates as strings,
    sets as sorted lists), so a plan's stored terms and an offer's read the same."""
    return offer_terms_to_dict(terms)


def _parse(name: str, value):
    if value is None:
        return None
    if name in _DECIMALS:
        if isinstance(value, float):
            value = repr(value)  # stored JSON may hold numbers; never compute through float
        return Decimal(str(value))
    if name in _INTEGERS:
        return int(value)
    if name in _DATES:
        return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if name == "seasonal_months":
        return frozenset(int(m) for m in value)
    if name == "custom_payments":
        return tuple(None if v is None else Decimal(str(v)) for v in value)
    if name == "upfront_fee_financed":
        return bool(value)
    return value


def terms_from_json(data: dict, **overrides) -> PlanTerms:
    """PlanTerms from stored JSON (unknown keys ignored; `term_months`, `rate`, `plan_type` accepted
    as aliases); `overrides` win. Raises ScheduleError naming the field when the terms are invalid."""
    values = {}
    for key, value in (data or {}).items():
        name = _ALIASES.get(key, key)
        if name in TERM_FIELDS and name not in values:
            try:
                values[name] = _parse(name, value)
            except (ValueError, TypeError, ArithmeticError) as error:
                raise ScheduleError(name, f"cannot read {value!r}: {error}") from error
    values.update(overrides)
    missing = [n for n in ("amount", "annual_rate", "term", "method", "disbursement_date") if values.get(n) is None]
    if missing:
        raise ScheduleError(missing[0], "is missing from the plan terms")
    values = {k: v for k, v in values.items() if v is not None or TERM_FIELDS[k].default is None}
    return PlanTerms(**values)


def rows_from_json(rows: list[dict]) -> list[EngineRow]:
    return [
        EngineRow(
            number=int(r["number"]), due_date=date.fromisoformat(r["due_date"]), principal=Decimal(r["principal"]),
            interest=Decimal(r["interest"]), fee=Decimal(r["fee"]), payment=Decimal(r["payment"]),
            balance=Decimal(r["balance"]),
        )
        for r in rows
    ]


def schedule_from_json(terms_json: dict, schedule_json: dict) -> Schedule:
    return schedule_from_rows(terms_from_json(terms_json), rows_from_json(schedule_json["installments"]))


def version_schedule(version) -> Schedule | None:
    """The engine schedule a ScheduleVersion stands for, or None (a settlement / payoff version)."""
    schedule_json = (version.disclosure or {}).get("schedule")
    if not schedule_json or not version.terms:
        return None
    return schedule_from_json(version.terms, schedule_json)


def due_parts(row: EngineRow) -> dict[str, Decimal]:
    """An engine row as the amounts an installment owes. A row whose payment does not cover its
    interest (capitalised grace, a skipped seasonal month) owes what it pays: principal 0 and the
    paid part of the interest; the rest was added to the balance by the engine."""
    principal = max(row.principal, Decimal(0) * row.principal)
    return {
        "principal_due": principal,
        "interest_due": row.payment - row.fee - principal,
        "fee_due": row.fee,
    }


def with_arrears_as_outstanding(schedule: Schedule, due_count: int, outstanding_by_number: dict[int, Decimal]) -> Schedule:
    """The schedule with each of its first `due_count` rows paying only what is still unpaid of it
    (0 when paid), so the engine's `reamortise(..., installments_paid=0)` capitalises exactly the
    arrears, partial payments honoured."""
    rows = list(schedule.installments)
    for index in range(min(due_count, len(rows))):
        row = rows[index]
        rows[index] = dataclasses.replace(row, payment=outstanding_by_number.get(row.number, row.payment * 0))
    return dataclasses.replace(schedule, installments=rows)
