"""Knock-out and policy rules, evaluated before the scorecard (pure: no Django import).

A rule is a kind (what is checked), a threshold and whether a hit declines the application
(`knock_out`) or only refers it to an officer. The risk team edits the rules in the admin
(`scoring.models.PolicyRule`); `installments.assessment.policy` gathers the applicant's facts and `installments.assessment.online`
calls `evaluate_rules`. Every hit is recorded on the score result with the rule's name.

Facts (`ApplicantFacts`), all optional; what a missing fact means is stated per kind:

| kind                       | hit when                                                         | missing fact      |
|----------------------------|------------------------------------------------------------------|-------------------|
| min_age                    | age < threshold (years)                                          | hit (age unproven)|
| max_age                    | age > threshold (years)                                          | no hit            |
| min_income                 | monthly income < threshold (CNY / month)                         | counts as 0       |
| max_debt_to_income         | (existing debt payments + new installment) / income > threshold  | hit if any payment|
| max_payment_to_income      | new installment / income > threshold                             | hit if installment|
| max_debt_service_ratio     | (debt payments + expenses + new installment) / income > threshold| hit if any outgo  |
| max_past_delinquencies     | reported past delinquencies > threshold                          | no hit            |
| invalid_id                 | the ID number on file fails validation (or none is on file)      | hit               |
| duplicate_id               | the ID number was used by another customer                       | no hit            |
| open_delinquency_with_us   | a live plan with us is more than threshold days past due, or an  | no hit            |
|                            | amount is overdue now                                            |                   |

Ratios are fractions (0.5 = 50 %). The customer-facing text of a hit is plain words in English
and Chinese (`DEFAULT_MESSAGES`, overridable per rule).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

MIN_AGE = "min_age"
MAX_AGE = "max_age"
MIN_INCOME = "min_income"
MAX_DEBT_TO_INCOME = "max_debt_to_income"
MAX_PAYMENT_TO_INCOME = "max_payment_to_income"
MAX_DEBT_SERVICE_RATIO = "max_debt_service_ratio"
MAX_PAST_DELINQUENCIES = "max_past_delinquencies"
INVALID_ID = "invalid_id"
DUPLICATE_ID = "duplicate_id"
OPEN_DELINQUENCY_WITH_US = "open_delinquency_with_us"

RULE_KINDS: tuple[str, ...] = (
    MIN_AGE,
    MAX_AGE,
    MIN_INCOME,
    MAX_DEBT_TO_INCOME,
    MAX_PAYMENT_TO_INCOME,
    MAX_DEBT_SERVICE_RATIO,
    MAX_PAST_DELINQUENCIES,
    INVALID_ID,
    DUPLICATE_ID,
    OPEN_DELINQUENCY_WITH_US,
)
# Kinds that compare a fact with a threshold; the others are yes/no checks.
THRESHOLD_KINDS = frozenset(
    {MIN_AGE, MAX_AGE, MIN_INCOME, MAX_DEBT_TO_INCOME, MAX_PAYMENT_TO_INCOME, MAX_DEBT_SERVICE_RATIO,
     MAX_PAST_DELINQUENCIES, OPEN_DELINQUENCY_WITH_US}
)

# Plain words for the customer; `{threshold}` is replaced by the rule's threshold.
DEFAULT_MESSAGES: dict[str, tuple[str, str]] = {
    MIN_AGE: ("Applicants must be at least {threshold} years old.", "申请人须年满{threshold}周岁。"),
    MAX_AGE: ("Applicants must be no older than {threshold}.", "申请人年龄不得超过{threshold}周岁。"),
    MIN_INCOME: ("Your monthly income is below our minimum of {threshold}.", "您的月收入低于我们的最低要求{threshold}。"),
    MAX_DEBT_TO_INCOME: (
        "Your debt payments, with this plan, would take too large a share of your income.",
        "加上本次分期后，您的债务还款占收入的比例过高。",
    ),
    MAX_PAYMENT_TO_INCOME: (
        "The monthly payment of this plan would be too high for your income.",
        "本次分期的月供相对您的收入过高。",
    ),
    MAX_DEBT_SERVICE_RATIO: (
        "Your fixed outgoings, with this plan, would leave too little of your income.",
        "加上本次分期后，您的固定支出占收入比例过高。",
    ),
    MAX_PAST_DELINQUENCIES: (
        "Your credit record shows too many late payments.",
        "您的信用记录中逾期还款次数过多。",
    ),
    INVALID_ID: (
        "We could not verify your ID number. Please check it in your profile.",
        "我们无法核验您的证件号码，请在个人资料中检查。",
    ),
    DUPLICATE_ID: (
        "Your ID number is already used by another account. Please contact us.",
        "您的证件号码已被其他账户使用，请联系我们。",
    ),
    OPEN_DELINQUENCY_WITH_US: (
        "You have an overdue payment with us. Please bring your plan up to date first.",
        "您在我司有逾期未还款项，请先结清逾期款项。",
    ),
}


@dataclass(frozen=True)
class RuleSpec:
    """One active rule as the evaluation needs it (built from `PolicyRule` rows)."""

    name: str
    kind: str
    threshold: Decimal | None = None
    knock_out: bool = True
    message_en: str = ""
    message_zh: str = ""

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise ValueError(f"kind: unknown rule kind {self.kind!r}")
        if self.kind in THRESHOLD_KINDS and self.threshold is None and self.kind != OPEN_DELINQUENCY_WITH_US:
            raise ValueError(f"threshold: rule {self.name!r} of kind {self.kind} needs a threshold")


@dataclass(frozen=True)
class ApplicantFacts:
    """What the rules look at. Money in the product currency; ratios as fractions."""

    age: int | None = None
    monthly_income: Decimal | None = None
    monthly_expenses: Decimal | None = None
    existing_debt_monthly_payment: Decimal | None = None
    new_installment: Decimal | None = None
    past_delinquencies: int | None = None
    id_valid: bool | None = None
    id_used_by_another_customer: bool | None = None
    days_past_due_with_us: int | None = None
    amount_overdue_with_us: Decimal | None = None


@dataclass(frozen=True)
class RuleHit:
    """A rule that matched: its name and kind, the fact's value and the customer's plain reason."""

    rule: str
    kind: str
    threshold: str | None
    value: str | None
    knock_out: bool
    text_en: str
    text_zh: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _d(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _ratio(numerator: Decimal, income: Decimal | None) -> Decimal:
    """numerator / income; infinite when there is no income and something to pay."""
    if income is not None and income > 0:
        return numerator / income
    return Decimal("Infinity") if numerator > 0 else Decimal(0)


def _format_threshold(threshold: Decimal | None) -> str:
    if threshold is None:
        return ""
    normalised = threshold.normalize()
    return f"{normalised:f}"


def _check(rule: RuleSpec, facts: ApplicantFacts) -> tuple[bool, Any]:
    """(hit?, the fact's value) for one rule."""
    t = rule.threshold
    income = _d(facts.monthly_income)
    installment = _d(facts.new_installment) or Decimal(0)
    debt_payment = _d(facts.existing_debt_monthly_payment) or Decimal(0)
    kind = rule.kind
    if kind == MIN_AGE:
        return (facts.age is None or facts.age < t), facts.age
    if kind == MAX_AGE:
        return (facts.age is not None and facts.age > t), facts.age
    if kind == MIN_INCOME:
        value = income or Decimal(0)
        return value < t, value
    if kind == MAX_DEBT_TO_INCOME:
        value = _ratio(debt_payment + installment, income)
        return value > t, value
    if kind == MAX_PAYMENT_TO_INCOME:
        value = _ratio(installment, income)
        return value > t, value
    if kind == MAX_DEBT_SERVICE_RATIO:
        value = _ratio(debt_payment + installment + (_d(facts.monthly_expenses) or Decimal(0)), income)
        return value > t, value
    if kind == MAX_PAST_DELINQUENCIES:
        return (facts.past_delinquencies is not None and facts.past_delinquencies > t), facts.past_delinquencies
    if kind == INVALID_ID:
        return facts.id_valid is not True, facts.id_valid
    if kind == DUPLICATE_ID:
        return facts.id_used_by_another_customer is True, facts.id_used_by_another_customer
    if kind == OPEN_DELINQUENCY_WITH_US:
        days = facts.days_past_due_with_us or 0
        overdue = _d(facts.amount_overdue_with_us) or Decimal(0)
        return days > (t if t is not None else 0) or overdue > 0, days
    raise ValueError(f"kind: unknown rule kind {kind!r}")  # pragma: no cover - RuleSpec checks


def _value_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return "inf"
        return f"{value.quantize(Decimal('0.0001')).normalize():f}"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return str(value)


def evaluate_rules(rules: Iterable[RuleSpec], facts: ApplicantFacts) -> list[RuleHit]:
    """Every rule that matches `facts`, in the order given (knock-outs and referrals alike)."""
    hits = []
    for rule in rules:
        hit, value = _check(rule, facts)
        if not hit:
            continue
        default_en, default_zh = DEFAULT_MESSAGES[rule.kind]
        threshold = _format_threshold(rule.threshold)
        hits.append(
            RuleHit(
                rule=rule.name,
                kind=rule.kind,
                threshold=threshold or None,
                value=_value_text(value),
                knock_out=rule.knock_out,
                text_en=(rule.message_en or default_en).replace("{threshold}", threshold),
                text_zh=(rule.message_zh or default_zh).replace("{threshold}", threshold),
            )
        )
    return hits


def rule_is_in_force(*, is_active: bool, effective_from: date, effective_to: date | None, on: date) -> bool:
    """Whether a rule applies on `on`: active, started, and not yet ended (effective_to exclusive)."""
    return is_active and effective_from <= on and (effective_to is None or on < effective_to)
