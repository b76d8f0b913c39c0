"""The offer engine: which plans to offer a customer, which they can afford, in what order, and why.

Pure Python on plain values; no Django. `offers_build` takes a product's terms (`ProductTerms`),
the credit policy stance in force (`CreditStance`), the customer's finances and repayment record
(`CustomerFinances`, usually from `customers.selectors.profile_summary`), the risk grade (None
before scoring) and the customer's stated `Preference`, and returns an `OfferSet`: up to
`preference.count` affordable offers, ranked, each with its exact schedule (from
`installments.engine.schedules`) and a plain explanation in English and Chinese. When nothing is
affordable the set carries the reasons and, where one exists, what would be affordable instead.
It never raises for a customer who cannot borrow; bad inputs raise ScheduleError naming the field.

Pricing (`price`)
-----------------
* Grade: the scoring grade, or the product's middle tier (D of A-G) when there is none yet; the
  offer says so.
* Repayment record with us (seed 004): at least GOOD_RECORD_MIN_ON_TIME on-time payments, none
  late and never past due -> one tier better (a customer already in the best tier gets
  REWARD_LIMIT_FACTOR x the limit instead). More than PENALTY_MAX_DAYS_PAST_DUE days past due or
  PENALTY_LATE_PAYMENTS late payments -> one tier stricter.
* Policy: no offers for a grade (after the move) worse than the stance's cut-off; the tier's rate
  plus the stance's rate adjustment (percentage points, never below 0); the limit is the tier's
  maximum x the stance's factor, within the product's range; the longest term is the shortest of
  the product's, the tier's and the stance's.

Candidates (`candidate_terms`)
------------------------------
Up to TERMS_PER_SET terms: the preferred term, the shortest term whose equal installment meets
the target monthly payment, the longest term allowed, and the standard terms (TERM_GRID) nearest
to them. For each term, every plan type the product allows that fits it: annuity and
equal_principal always; step_up (two steps, the second STEP_RATIO x the first) from 12 months;
seasonal (low months at SEASONAL_FACTOR, and skipped at the anchor term) when the customer's
income is seasonal; balloon (BALLOON_SHARE of the amount at the end) at the anchor and longest
terms; interest_only up to 12 months; combination when balloon is not allowed; zero_interest on
the product's promotion terms, with the promotion's monthly fee. `flat` and `custom` are never
generated: tiers price nominal rates and custom amounts are chosen by people.

Affordability (`assess`)
------------------------
Income is the lower of the declared monthly income and the statement's average monthly inflow.
In the customer's low-income months (stated, or found in the statement) it is taken as
LOW_MONTH_INCOME_SHARE of that. Every regular installment (all but a final lump sum), fees
included, must keep, in its own month:
* payment-to-income  = installment / income                                  <= product limit
* debt service ratio = (existing debt payments + expenses + installment) / income <= product limit
(the definitions of `customers.finances`, with the new installment added, as scoring's rules).
A final lump sum (balloon, interest-only, combination) must be covered by the customer's savings.
The APR (fees included) must not exceed the product's legal maximum.

Large final payments (`final_payment_limit`)
--------------------------------------------
A plan whose final payment is larger than every regular installment (a balloon, interest-only or
combination plan) stays on offer if affordable, but when that final payment is more than
`max_final_payment_share` x (savings + one month's surplus), surplus = income - expenses -
existing debt payments (never below 0), it is never labelled "best match" or "cheapest" (those go
to the next plan within the limit, or to none), it is shown after the plans within the limit, and
its explanation says why. The share comes from the caller (settings.OFFERS_MAX_FINAL_PAYMENT_SHARE
in the app); None applies no limit.

Ranking (`rank`)
----------------
Each affordable plan gets a score (lower is better; a float, it is not money): 0.5 x closeness to
the preference + 0.3 x total cost (interest and fees, scaled between the cheapest and dearest) +
0.2 x how little headroom it leaves under the affordability limits; without any preference
0.6 x cost + 0.4 x headroom. Closeness weighs the target payment twice (a budget: going over it
counts double), the term and the preferred plan type once each. A plan matching seasonal income
gets SEASONAL_BONUS off; a plan with a final lump sum the customer did not ask for gets
LUMP_SUM_PENALTY on. "Lowest monthly payment" goes to plans without a lump sum. The set keeps the winner of each label first
(best match, closest to your target, matches your seasonal income, cheapest total cost, lowest
monthly payment, your preferred plan type, 0% promotion), then the best of the rest with at most
two of a plan type, and is shown in score order as plans A, B, C, ...
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from installments.engine.schedules import METHODS, PlanTerms, Schedule, ScheduleError, build_schedule

GRADES = "ABCDEFG"
ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)

TERM_GRID = (3, 6, 9, 12, 18, 24, 36, 48, 60)
TERMS_PER_SET = 5
DEFAULT_ANCHOR_TERM = 12
DEFAULT_COUNT = 5
MAX_COUNT = 10

GOOD_RECORD_MIN_ON_TIME = 6
REWARD_LIMIT_FACTOR = Decimal("1.2")
PENALTY_MAX_DAYS_PAST_DUE = 30
PENALTY_LATE_PAYMENTS = 3

LOW_MONTH_INCOME_SHARE = Decimal("0.75")  # statements mark months 25 % or more below average
STEP_RATIO = Decimal("1.25")
SEASONAL_FACTOR = Decimal("0.5")
BALLOON_SHARE = Decimal("0.3")
HIGH_DEBT_TO_INCOME = Decimal("0.30")
VOLATILE_INCOME = Decimal("0.30")
SEASONAL_BONUS = 0.1
LUMP_SUM_PENALTY = 0.15
LUMP_SUM_METHODS = ("balloon", "interest_only", "combination")

METHOD_NAMES = {
    "annuity": ("Equal installments", "等额本息"),
    "equal_principal": ("Equal principal", "等额本金"),
    "flat": ("Flat rate", "等本等息"),
    "interest_only": ("Interest only, principal at the end", "先息后本"),
    "balloon": ("Balloon (lower installments, final lump sum)", "气球贷（尾款）"),
    "step_up": ("Step-up (lower first, rising later)", "递增还款（先低后高）"),
    "seasonal": ("Seasonal (lower in your lean months)", "季节性还款（淡季少还）"),
    "combination": ("Combination (part installments, part lump sum)", "组合还款（部分分期＋尾款）"),
    "zero_interest": ("0% interest promotion", "免息分期"),
    "custom": ("Custom amounts", "自定义还款"),
}
LABELS = {
    "best_match": ("Best match for you", "最适合您"),
    "closest_target": ("Closest to your target", "最接近您的目标"),
    "seasonal_match": ("Matches your seasonal income", "匹配您的季节性收入"),
    "cheapest": ("Cheapest total cost", "总成本最低"),
    "lowest_payment": ("Lowest monthly payment", "月供最低"),
    "preferred_type": ("Your preferred plan type", "您偏好的还款方式"),
    "promotion": ("0% interest promotion", "免息优惠"),
}
LABEL_PRIORITY = tuple(LABELS)
MONTHS_EN = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class Tier:
    """One risk grade's price: nominal annual rate (percent), largest amount, longest term."""

    grade: str
    annual_rate: Decimal
    max_amount: Decimal
    max_term: int


@dataclass(frozen=True, kw_only=True)
class ProductTerms:
    """What a loan product allows (the plain values of `models.LoanProduct` and its tiers).

    Rates are percents; `max_payment_to_income` and `max_debt_service_ratio` are fractions
    (0.4 = 40 %). `promo_max_term` > 0 offers zero-interest plans up to that many months, charging
    `promo_monthly_fee_rate` percent of the amount each month (on top of `monthly_fee`).
    """

    code: str
    currency: str = "CNY"
    currency_decimals: int = 2
    min_amount: Decimal
    max_amount: Decimal
    min_term: int
    max_term: int
    tiers: tuple[Tier, ...]
    methods: tuple[str, ...] = METHODS
    upfront_fee_rate: Decimal = ZERO
    upfront_fee_financed: bool = False
    monthly_fee: Decimal = ZERO
    max_apr: Decimal = Decimal(24)
    max_payment_to_income: Decimal = Decimal("0.4")
    max_debt_service_ratio: Decimal = Decimal("0.6")
    promo_max_term: int = 0
    promo_monthly_fee_rate: Decimal = ZERO

    def __post_init__(self):
        if not self.tiers:
            raise ScheduleError("tiers", "a product needs at least one price tier")
        if not ZERO < self.max_payment_to_income <= ONE:
            raise ScheduleError("max_payment_to_income", "must be a fraction above 0 and at most 1")
        if not ZERO < self.max_debt_service_ratio <= ONE:
            raise ScheduleError("max_debt_service_ratio", "must be a fraction above 0 and at most 1")
        object.__setattr__(self, "tiers", tuple(sorted(self.tiers, key=lambda t: GRADES.index(t.grade))))
        object.__setattr__(self, "methods", tuple(self.methods) or METHODS)

    @property
    def unit(self) -> Decimal:
        return ONE.scaleb(-self.currency_decimals)

    @property
    def default_grade(self) -> str:
        """The grade used before scoring: the product's middle tier (D when it prices A-G)."""
        return self.tiers[(len(self.tiers) - 1) // 2].grade

    def tier(self, grade: str) -> Tier | None:
        return next((t for t in self.tiers if t.grade == grade), None)

    def upfront_fee(self, amount: Decimal) -> Decimal:
        return (amount * self.upfront_fee_rate / HUNDRED).quantize(self.unit, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, kw_only=True)
class CreditStance:
    """The approvers' policy in force: rate adjustment in percentage points (+ tightens), a factor
    on every tier's limit, a longest term (None: no extra limit) and the worst grade still offered."""

    name: str = "standard"
    rate_adjustment: Decimal = ZERO
    max_amount_factor: Decimal = ONE
    max_term: int | None = None
    cutoff_grade: str = "G"


@dataclass(frozen=True, kw_only=True)
class CustomerFinances:
    """The affordability inputs and repayment record (money monthly, Decimal; None = unknown)."""

    monthly_income: Decimal | None
    monthly_expenses: Decimal = ZERO
    existing_debt_monthly_payment: Decimal = ZERO
    savings: Decimal | None = None
    average_monthly_inflow: Decimal | None = None
    income_volatility: Decimal | None = None
    seasonal_low_months: frozenset[int] = frozenset()
    on_time_payments: int = 0
    late_payments: int = 0
    max_days_past_due: int = 0

    @classmethod
    def from_summary(cls, summary: Mapping | None) -> CustomerFinances:
        """From `customers.selectors.profile_summary(profile)` (any missing key counts as unknown / 0)."""
        summary = summary or {}

        def money(key, default=ZERO):
            value = summary.get(key)
            return default if value is None else Decimal(value)

        return cls(
            monthly_income=money("monthly_income", None),
            monthly_expenses=money("monthly_expenses"),
            existing_debt_monthly_payment=money("existing_debt_monthly_payment"),
            savings=money("savings", None),
            average_monthly_inflow=money("average_monthly_inflow", None),
            income_volatility=money("income_volatility", None),
            seasonal_low_months=frozenset(int(m) for m in summary.get("seasonal_low_months") or ()),
            on_time_payments=int(summary.get("on_time_payments") or 0),
            late_payments=int(summary.get("late_payments") or 0),
            max_days_past_due=int(summary.get("max_days_past_due") or 0),
        )

    @property
    def income(self) -> Decimal | None:
        """The income affordability is judged on: the lower of declared income and statement inflow."""
        known = [v for v in (self.monthly_income, self.average_monthly_inflow) if v is not None and v > 0]
        return min(known) if known else None

    @property
    def fixed_outgoings(self) -> Decimal:
        return self.existing_debt_monthly_payment + self.monthly_expenses

    @property
    def debt_to_income(self) -> Decimal | None:
        income = self.income
        return self.existing_debt_monthly_payment / income if income else None


@dataclass(frozen=True, kw_only=True)
class Preference:
    """What the customer asked for. `method` is the preferred plan type; `low_income_months` the
    months (1-12) they said their income is lower; `count` how many offers to return (1-10)."""

    amount: Decimal
    disbursement_date: date
    term: int | None = None
    target_monthly_payment: Decimal | None = None
    method: str | None = None
    income_pattern: str = "regular"
    low_income_months: frozenset[int] = frozenset()
    count: int = DEFAULT_COUNT

    def __post_init__(self):
        object.__setattr__(self, "low_income_months", frozenset(self.low_income_months))
        if self.amount is None or self.amount <= 0:
            raise ScheduleError("amount", "must be greater than zero")
        if self.term is not None and self.term < 1:
            raise ScheduleError("term", "must be at least 1")
        if self.target_monthly_payment is not None and self.target_monthly_payment <= 0:
            raise ScheduleError("target_monthly_payment", "must be greater than zero")
        if self.method is not None and self.method not in METHODS:
            raise ScheduleError("method", f"must be one of {', '.join(METHODS)}")
        if not self.low_income_months <= frozenset(range(1, 13)):
            raise ScheduleError("low_income_months", "give month numbers from 1 to 12")
        if not 1 <= self.count <= MAX_COUNT:
            raise ScheduleError("count", f"must be between 1 and {MAX_COUNT}")


# ---------------------------------------------------------------------------------------------
# Outputs


@dataclass(frozen=True)
class Message:
    """A reason, note or advice in both languages, with a stable code for programs."""

    code: str
    en: str
    zh: str

    def to_dict(self) -> dict:
        return {"code": self.code, "en": self.en, "zh": self.zh}


@dataclass(frozen=True, kw_only=True)
class Pricing:
    """The grade and price the offers use, and why."""

    scored_grade: str | None
    grade: str
    default_grade_used: bool
    tier_move: str | None  # "better", "stricter", "higher_limit" or None
    annual_rate: Decimal
    max_amount: Decimal
    min_term: int
    max_term: int
    refused: Message | None = None

    def to_dict(self) -> dict:
        return {
            "scored_grade": self.scored_grade,
            "grade": self.grade,
            "default_grade_used": self.default_grade_used,
            "tier_move": self.tier_move,
            "annual_rate": str(self.annual_rate),
            "max_amount": str(self.max_amount),
            "min_term": self.min_term,
            "max_term": self.max_term,
        }


@dataclass(kw_only=True)
class Candidate:
    """One priced plan and how it fares against the customer's finances."""

    terms: PlanTerms
    schedule: Schedule | None = None
    rejection: str | None = None  # apr_cap, payment_to_income, debt_service_ratio, final_payment, no_income, invalid
    first_payment: Decimal = ZERO
    highest_payment: Decimal = ZERO
    lowest_payment: Decimal = ZERO
    final_payment: Decimal = ZERO
    total_cost: Decimal = ZERO
    payment_to_income: Decimal | None = None
    debt_service_ratio: Decimal | None = None
    headroom: Decimal = ZERO  # the least money a month left under both limits
    score: float = 0.0
    closeness: float = 0.0
    labels: list[str] = field(default_factory=list)
    large_final_payment: bool = False  # a final payment above final_payment_limit: never best match or cheapest

    @property
    def method(self) -> str:
        return self.terms.method

    @property
    def term(self) -> int:
        return self.terms.term

    @property
    def affordable(self) -> bool:
        return self.schedule is not None and self.rejection is None


@dataclass(frozen=True, kw_only=True)
class OfferCandidate:
    """An offer as shown: rank 1 first, `letter` A, B, C, ... and everything disclosed."""

    rank: int
    letter: str
    schedule: Schedule
    installment: Decimal  # the first regular installment
    highest_installment: Decimal
    lowest_installment: Decimal
    final_payment: Decimal
    total_cost: Decimal  # interest + fees
    payment_to_income: Decimal
    debt_service_ratio: Decimal
    headroom: Decimal
    score: float
    labels: tuple[str, ...]
    explanation_en: str
    explanation_zh: str
    large_final_payment: bool = False  # see final_payment_limit

    @property
    def terms(self) -> PlanTerms:
        return self.schedule.terms

    @property
    def method(self) -> str:
        return self.schedule.terms.method

    @property
    def term(self) -> int:
        return self.schedule.terms.term


@dataclass(frozen=True, kw_only=True)
class Suggestion:
    """What would be affordable when the request is not: an amount over a term, as an annuity."""

    amount: Decimal
    term: int
    method: str
    installment: Decimal
    apr: Decimal
    en: str
    zh: str

    def to_dict(self) -> dict:
        return {
            "amount": str(self.amount), "term": self.term, "method": self.method,
            "installment": str(self.installment), "apr": str(self.apr), "en": self.en, "zh": self.zh,
        }


@dataclass(frozen=True, kw_only=True)
class OfferSet:
    """The engine's answer. `offers` is empty when nothing is affordable; `reasons` then say why
    and `suggestion` (when one exists) what would be. `notes` apply to every offer."""

    offers: tuple[OfferCandidate, ...]
    pricing: Pricing
    currency: str
    requested_amount: Decimal
    amount: Decimal
    considered: int
    rejected: dict[str, int]
    reasons: tuple[Message, ...] = ()
    notes: tuple[Message, ...] = ()
    suggestion: Suggestion | None = None

    @property
    def affordable(self) -> bool:
        return bool(self.offers)

    def summary(self) -> dict:
        """Everything but the offers themselves, JSON-ready (stored on the application)."""
        return {
            "currency": self.currency,
            "requested_amount": str(self.requested_amount),
            "amount": str(self.amount),
            "pricing": self.pricing.to_dict(),
            "considered": self.considered,
            "offered": len(self.offers),
            "rejected": dict(self.rejected),
            "reasons": [m.to_dict() for m in self.reasons],
            "notes": [m.to_dict() for m in self.notes],
            "suggestion": self.suggestion.to_dict() if self.suggestion else None,
        }


# ---------------------------------------------------------------------------------------------
# Formatting


def _money(value: Decimal, places: int = 2) -> str:
    return f"{value:,.{places}f}"


def _rate(percent: Decimal) -> str:
    """A rate without trailing zeros: 12.0000 -> "12", 7.2500 -> "7.25"."""
    return f"{percent.normalize():f}"


def _pct(fraction: Decimal) -> str:
    return f"{fraction * HUNDRED:.0f}%"


def _months_en(months: Iterable[int]) -> str:
    return ", ".join(MONTHS_EN[m] for m in sorted(months))


def _months_zh(months: Iterable[int]) -> str:
    return "、".join(f"{m}月" for m in sorted(months))


# ---------------------------------------------------------------------------------------------
# Pricing


def _record_move(finances: CustomerFinances) -> int:
    """-1: one tier better (good record with us); +1: one tier stricter (late history); 0: neither."""
    if finances.max_days_past_due > PENALTY_MAX_DAYS_PAST_DUE or finances.late_payments >= PENALTY_LATE_PAYMENTS:
        return 1
    if (finances.on_time_payments >= GOOD_RECORD_MIN_ON_TIME and not finances.late_payments
            and not finances.max_days_past_due):
        return -1
    return 0


def price(product: ProductTerms, stance: CreditStance, grade: str | None, finances: CustomerFinances) -> Pricing:
    """The grade, rate, limit and term range the offers use (see the module docstring)."""
    if grade is not None and grade not in GRADES:
        raise ScheduleError("grade", f"must be one of {', '.join(GRADES)}")
    default_used = grade is None
    base = product.default_grade if default_used else grade
    move = _record_move(finances)
    index = min(max(GRADES.index(base) + move, 0), len(GRADES) - 1)
    limit_factor = ONE
    tier_move = None
    if move < 0 and index == GRADES.index(base):  # already the best grade: a higher limit instead
        limit_factor, tier_move = REWARD_LIMIT_FACTOR, "higher_limit"
    elif index != GRADES.index(base):
        tier_move = "better" if move < 0 else "stricter"
    tier = product.tier(GRADES[index])
    if tier is None:  # the product does not price this grade: its nearest stricter tier, else none
        tier = next((t for t in product.tiers if GRADES.index(t.grade) > index), None)
    refused = None
    if tier is None:
        refused = Message("no_price_for_grade", f"This product is not available for risk grade {GRADES[index]}.",
                          f"该产品不适用于风险等级 {GRADES[index]}。")
        tier = product.tiers[-1]
    grade_used = tier.grade
    if refused is None and GRADES.index(grade_used) > GRADES.index(stance.cutoff_grade):
        refused = Message(
            "grade_below_cutoff",
            f"Our current credit policy does not lend to risk grade {grade_used} "
            f"(the cut-off is grade {stance.cutoff_grade}).",
            f"根据当前信贷政策，我们暂不向风险等级 {grade_used} 放款（准入等级为 {stance.cutoff_grade}）。",
        )
    unit = product.unit
    limit = (tier.max_amount * stance.max_amount_factor * limit_factor).quantize(unit, rounding=ROUND_DOWN)
    max_term = min(product.max_term, tier.max_term, stance.max_term or product.max_term)
    if refused is None and max_term < product.min_term:
        refused = Message("no_term", "No term is available under the current credit policy.",
                          "根据当前信贷政策，没有可用的期限。")
    return Pricing(
        scored_grade=grade,
        grade=grade_used,
        default_grade_used=default_used,
        tier_move=tier_move,
        annual_rate=max(tier.annual_rate + stance.rate_adjustment, ZERO),
        max_amount=min(limit, product.max_amount),
        min_term=product.min_term,
        max_term=max_term,
        refused=refused,
    )


def _pricing_notes(pricing: Pricing, product: ProductTerms) -> list[Message]:
    notes = []
    if pricing.default_grade_used:
        notes.append(Message(
            "default_grade",
            f"Your credit assessment is not finished yet, so these prices use our standard tier "
            f"(grade {pricing.grade}); they may change once it is.",
            f"您的信用评估尚未完成，以下价格按标准档（等级 {pricing.grade}）计算，评估完成后可能调整。",
        ))
    if pricing.tier_move == "better":
        notes.append(Message("reward_tier", f"Thank you for repaying on time: your record with us earns you a "
                             f"better price tier (grade {pricing.grade}).",
                             f"感谢您按时还款：您的良好记录让您享受更优惠的价格档（等级 {pricing.grade}）。"))
    elif pricing.tier_move == "higher_limit":
        notes.append(Message("reward_limit", "Thank you for repaying on time: your record with us raises your "
                             f"limit to {_money(pricing.max_amount, product.currency_decimals)} {product.currency}.",
                             "感谢您按时还款：您的良好记录使您的额度提高到 "
                             f"{_money(pricing.max_amount, product.currency_decimals)} {product.currency}。"))
    elif pricing.tier_move == "stricter":
        notes.append(Message("penalty_tier", "Because of late payments on an earlier plan with us, these prices use "
                             f"a stricter tier (grade {pricing.grade}). Repaying on time will bring it back.",
                             f"由于您此前在我们这里有逾期记录，以下价格按较严格的档位（等级 {pricing.grade}）计算；"
                             "按时还款后可恢复。"))
    return notes


# ---------------------------------------------------------------------------------------------
# Candidates


def _annuity_factor(monthly_rate: Decimal, term: int) -> Decimal:
    """The level installment per unit of amount financed (monthly, 30/360, no rounding)."""
    if not monthly_rate:
        return ONE / term
    return monthly_rate / (ONE - (ONE + monthly_rate) ** -term)


def _financed(product: ProductTerms, amount: Decimal) -> Decimal:
    return amount + product.upfront_fee(amount) if product.upfront_fee_financed else amount


def _level_payment(product: ProductTerms, rate: Decimal, amount: Decimal, term: int) -> Decimal:
    return _financed(product, amount) * _annuity_factor(rate / 1200, term) + product.monthly_fee


def _target_term(product, pricing, amount, target) -> int | None:
    """The shortest term whose equal installment (fees included) is at most `target`."""
    for term in range(pricing.min_term, pricing.max_term + 1):
        if _level_payment(product, pricing.annual_rate, amount, term) <= target:
            return term
    return None


def _choose_terms(pricing: Pricing, preference: Preference, target_term: int | None) -> tuple[list[int], int]:
    low, high = pricing.min_term, pricing.max_term
    clamp = lambda t: min(max(t, low), high)  # noqa: E731
    anchor = clamp(preference.term or target_term or DEFAULT_ANCHOR_TERM)
    chosen = [anchor]
    for term in (preference.term, target_term, high):
        if term is not None and clamp(term) not in chosen:
            chosen.append(clamp(term))
    grid = sorted({clamp(t) for t in TERM_GRID} | {low}, key=lambda t: (abs(t - anchor), t))
    for term in grid:
        if len(chosen) >= TERMS_PER_SET:
            break
        if term not in chosen:
            chosen.append(term)
    return sorted(chosen), anchor


def low_income_months(preference: Preference, finances: CustomerFinances) -> frozenset[int]:
    """The months affordability treats as lean: those the customer stated (with a seasonal
    income pattern, or whenever given) and those their bank statement shows."""
    months = set(finances.seasonal_low_months)
    if preference.income_pattern == "seasonal" or preference.low_income_months:
        months |= preference.low_income_months
    return frozenset(months) if len(months) < 12 else frozenset()


def candidate_terms(
    product: ProductTerms, pricing: Pricing, preference: Preference, amount: Decimal, low_months: frozenset[int]
) -> tuple[list[PlanTerms], int]:
    """The plans worth pricing for this request (see the module docstring) and the anchor term."""
    target = preference.target_monthly_payment
    target_term = _target_term(product, pricing, amount, target) if target else None
    terms, anchor = _choose_terms(pricing, preference, target_term)
    allowed = set(product.methods)
    common = {
        "amount": amount,
        "annual_rate": pricing.annual_rate,
        "disbursement_date": preference.disbursement_date,
        "upfront_fee": product.upfront_fee(amount),
        "upfront_fee_financed": product.upfront_fee_financed,
        "monthly_fee": product.monthly_fee,
        "currency_decimals": product.currency_decimals,
    }
    unit = product.unit
    balloon = (amount * BALLOON_SHARE).quantize(unit * 100 if amount >= 1000 else unit, rounding=ROUND_DOWN)
    specs: list[dict] = []
    for term in terms:
        specs.append({"method": "annuity", "term": term})
        if term > 1:
            specs.append({"method": "equal_principal", "term": term})
        if term >= 12:
            specs.append({"method": "step_up", "term": term, "step_count": 2, "step_ratio": STEP_RATIO})
        if low_months and term >= 6:
            specs.append({"method": "seasonal", "term": term, "seasonal_months": low_months,
                          "seasonal_factor": SEASONAL_FACTOR})
            if term == anchor:
                specs.append({"method": "seasonal", "term": term, "seasonal_months": low_months,
                              "seasonal_factor": ZERO})
        if term in (anchor, terms[-1]) and term >= 6:
            if "balloon" in allowed:
                specs.append({"method": "balloon", "term": term, "balloon_amount": balloon})
            elif "combination" in allowed:
                specs.append({"method": "combination", "term": term, "lump_sum_share": BALLOON_SHARE})
        if 3 <= term <= 12:
            specs.append({"method": "interest_only", "term": term})
    if product.promo_max_term and "zero_interest" in allowed:
        promo_fee = (amount * product.promo_monthly_fee_rate / HUNDRED).quantize(unit, rounding=ROUND_HALF_UP)
        promo_terms = sorted({min(t, product.promo_max_term) for t in TERM_GRID
                              if pricing.min_term <= min(t, product.promo_max_term) <= pricing.max_term})
        for term in promo_terms[-2:]:
            specs.append({"method": "zero_interest", "term": term, "annual_rate": ZERO,
                          "monthly_fee": product.monthly_fee + promo_fee})
    plans = []
    for spec in specs:
        if spec["method"] not in allowed:
            continue
        try:
            plans.append(PlanTerms(**{**common, **spec}))
        except ScheduleError:
            continue  # a shape that cannot exist for this request (e.g. a balloon above the financed amount)
    return plans, anchor


# ---------------------------------------------------------------------------------------------
# Affordability


@dataclass(frozen=True)
class _Budget:
    income: Decimal | None
    low_months: frozenset[int]
    outgoings: Decimal
    max_pti: Decimal
    max_dsr: Decimal
    savings: Decimal | None

    def income_in(self, month: int) -> Decimal:
        return self.income * LOW_MONTH_INCOME_SHARE if month in self.low_months else self.income

    def limit_in(self, month: int) -> Decimal:
        """The largest installment (fees included) the limits allow in that month."""
        income = self.income_in(month)
        return min(income * self.max_pti, income * self.max_dsr - self.outgoings)

    @property
    def level_limit(self) -> Decimal:
        """The largest level installment allowed in every month."""
        return min(self.limit_in(m) for m in ({1} | self.low_months))


def customer_budget(product: ProductTerms, finances: CustomerFinances, low_months: frozenset[int]) -> _Budget:
    """What the customer can pay each month under the product's limits (`level_limit`: the largest
    level installment); the affordability rule `assess` checks candidates against (see the docstring)."""
    return _Budget(
        income=finances.income,
        low_months=low_months,
        outgoings=finances.fixed_outgoings,
        max_pti=product.max_payment_to_income,
        max_dsr=product.max_debt_service_ratio,
        savings=finances.savings,
    )


def assess(candidate: Candidate, product: ProductTerms, budget: _Budget) -> Candidate:
    """Build the candidate's schedule and judge it (fills the Candidate in place and returns it)."""
    try:
        schedule = build_schedule(candidate.terms)
    except ScheduleError:
        candidate.rejection = "invalid"
        return candidate
    candidate.schedule = schedule
    rows = schedule.installments
    regular = rows[:-1] if candidate.method in LUMP_SUM_METHODS and len(rows) > 1 else rows
    payments = [r.payment for r in regular]
    candidate.first_payment = next((p for p in payments if p), payments[0])
    candidate.highest_payment = max(payments)
    candidate.lowest_payment = min(payments)
    candidate.final_payment = rows[-1].payment
    candidate.total_cost = schedule.total_interest + schedule.total_fees
    if schedule.apr > product.max_apr:
        candidate.rejection = "apr_cap"
        return candidate
    if not budget.income:
        candidate.rejection = "no_income"
        return candidate
    # Income is one of two figures (a low month or not), so the largest installment of each kind decides.
    low_months = budget.low_months
    largest: dict[bool, Decimal] = {}
    for row in regular:
        low = row.due_date.month in low_months
        if row.payment > largest.get(low, -ONE):
            largest[low] = row.payment
    worst_pti = worst_dsr = headroom = None
    for low, payment in largest.items():
        month = next(iter(low_months)) if low else 0
        income = budget.income_in(month)
        pti, dsr = payment / income, (budget.outgoings + payment) / income
        room = budget.limit_in(month) - payment
        worst_pti = pti if worst_pti is None else max(worst_pti, pti)
        worst_dsr = dsr if worst_dsr is None else max(worst_dsr, dsr)
        headroom = room if headroom is None else min(headroom, room)
    candidate.payment_to_income = worst_pti
    candidate.debt_service_ratio = worst_dsr
    candidate.headroom = headroom
    if worst_pti > budget.max_pti:
        candidate.rejection = "payment_to_income"
    elif worst_dsr > budget.max_dsr:
        candidate.rejection = "debt_service_ratio"
    elif regular is not rows and (budget.savings or ZERO) < candidate.final_payment - candidate.highest_payment:
        candidate.rejection = "final_payment"
    return candidate


def final_payment_limit(finances: CustomerFinances, share: Decimal) -> Decimal:
    """The largest final payment we recommend: share x (savings + one month's surplus), where the
    surplus is income (as `CustomerFinances.income`) - expenses - existing debt payments, never below 0;
    unknown savings or income count as 0. Money, unrounded."""
    income = finances.income or ZERO
    surplus = max(income - finances.fixed_outgoings, ZERO)
    return share * ((finances.savings or ZERO) + surplus)


def _mark_large_final_payments(candidates: Iterable[Candidate], limit: Decimal) -> None:
    """Flag the plans whose final payment is above every regular installment and above `limit`."""
    for c in candidates:
        c.large_final_payment = c.final_payment > c.highest_payment and c.final_payment > limit


# ---------------------------------------------------------------------------------------------
# Ranking and labels


def _spread(values: list) -> tuple:
    low, high = min(values), max(values)
    return low, (high - low) or ONE


def rank(candidates: list[Candidate], preference: Preference, low_months: frozenset[int]) -> None:
    """Score the affordable candidates in place (lower is better; see the module docstring)."""
    target, pref_term, pref_method = preference.target_monthly_payment, preference.term, preference.method
    has_preference = bool(target or pref_term or pref_method)
    low_cost, cost_span = _spread([c.total_cost for c in candidates])
    most_room = max(max((c.headroom for c in candidates), default=ONE), ONE)
    for c in candidates:
        parts = []  # (weight, distance 0..1)
        if target:  # a budget: going over it counts double, and it weighs more than the term
            gap = float(abs(c.highest_payment - target) / target)
            parts.append((2.0, min(gap * (2.0 if c.highest_payment > target else 1.0), 1.0)))
        if pref_term:
            parts.append((1.0, min(abs(c.term - pref_term) / pref_term, 1.0)))
        if pref_method:
            parts.append((1.0, 0.0 if c.method == pref_method else 1.0))
        c.closeness = sum(w * d for w, d in parts) / sum(w for w, _ in parts) if parts else 0.0
        cost = float((c.total_cost - low_cost) / cost_span)
        tight = 1.0 - max(float(c.headroom / most_room), 0.0)
        c.score = (0.5 * c.closeness + 0.3 * cost + 0.2 * tight) if has_preference else (0.6 * cost + 0.4 * tight)
        if low_months and c.method == "seasonal" and c.terms.seasonal_months == low_months:
            c.score -= SEASONAL_BONUS
        if c.method in LUMP_SUM_METHODS and c.method != pref_method:
            c.score += LUMP_SUM_PENALTY  # a large final payment is a risk the customer did not ask for


def _label_winners(candidates: list[Candidate], preference: Preference, low_months) -> dict[str, Candidate]:
    by_score = sorted(candidates, key=lambda c: (c.score, c.total_cost, c.term))
    # A final payment above the customer's limit is never recommended: best match and cheapest go to
    # the best plan within it (or to none).
    within_limit = [c for c in by_score if not c.large_final_payment]
    winners: dict[str, Candidate] = {"best_match": within_limit[0]} if within_limit else {}
    if preference.target_monthly_payment or preference.term:
        winners["closest_target"] = min(by_score, key=lambda c: c.closeness)
    seasonal = [c for c in by_score if c.method == "seasonal" and low_months and c.terms.seasonal_months == low_months]
    if seasonal:
        winners["seasonal_match"] = seasonal[0]
    if within_limit:
        winners["cheapest"] = min(within_limit, key=lambda c: (c.total_cost, c.term))
    amortising = [c for c in by_score if c.method not in LUMP_SUM_METHODS] or by_score
    winners["lowest_payment"] = min(amortising, key=lambda c: (c.highest_payment, c.total_cost))
    if preference.method:
        preferred = [c for c in by_score if c.method == preference.method]
        if preferred:
            winners["preferred_type"] = preferred[0]
    promo = [c for c in by_score if c.method == "zero_interest"]
    if promo:
        winners["promotion"] = promo[0]
    return winners


def select(candidates: list[Candidate], preference: Preference, low_months) -> list[Candidate]:
    """The offers to show, best first: label winners, then the best of the rest (<= 2 per type first)."""
    if not candidates:
        return []
    winners = _label_winners(candidates, preference, low_months)
    chosen: list[Candidate] = []
    for label in LABEL_PRIORITY:
        winner = winners.get(label)
        if winner is None:
            continue
        if winner not in chosen:
            if len(chosen) >= preference.count:
                continue
            chosen.append(winner)
        winner.labels.append(label)
    rest = sorted((c for c in candidates if c not in chosen), key=lambda c: (c.score, c.total_cost, c.term))
    for per_type in (2, preference.count):
        for c in rest:
            if len(chosen) >= preference.count:
                break
            if c not in chosen and sum(1 for o in chosen if o.method == c.method) < per_type:
                chosen.append(c)
    # Plans with a final payment above the limit come after the others, so plan A is the best match.
    return sorted(chosen, key=lambda c: (c.large_final_payment, c.score, c.total_cost, c.term))


# ---------------------------------------------------------------------------------------------
# Explanations


def _shape(c: Candidate, currency: str, places: int) -> tuple[str, str]:
    """How the payments go, in words."""
    m = lambda v: _money(v, places)  # noqa: E731
    rows = c.schedule.installments
    n = len(rows)
    method = c.method
    if method == "equal_principal":
        return (f"Payments fall from {m(c.highest_payment)} to {m(rows[-1].payment)} {currency} as the balance "
                "goes down; less interest than equal installments.",
                f"月供从 {m(c.highest_payment)} 逐月递减至 {m(rows[-1].payment)} {currency}，"
                "总利息低于等额本息。")
    if method == "step_up":
        return (f"Payments start at {m(c.first_payment)} and rise to {m(c.highest_payment)} {currency} halfway "
                "through; suits an income you expect to grow.",
                f"前期每期 {m(c.first_payment)}，中期起升至 {m(c.highest_payment)} {currency}，适合收入预期增长的客户。")
    if method == "seasonal":
        months = c.terms.seasonal_months
        if c.terms.seasonal_factor:
            return (f"{m(c.highest_payment)} {currency} in most months and {m(c.lowest_payment)} in "
                    f"{_months_en(months)}, your lower-income months.",
                    f"平时每期 {m(c.highest_payment)} {currency}，收入较低的 {_months_zh(months)} 每期仅 "
                    f"{m(c.lowest_payment)}。")
        return (f"{m(c.highest_payment)} {currency} in most months and nothing but fees in {_months_en(months)}, "
                "your lower-income months.",
                f"平时每期 {m(c.highest_payment)} {currency}，收入较低的 {_months_zh(months)} 暂停还款（仅收费用）。")
    if method in LUMP_SUM_METHODS:
        word_en = "interest-only payments" if method == "interest_only" else "payments"
        word_zh = "每期只付利息" if method == "interest_only" else "每期"
        return (f"{n - 1} {word_en} of {m(c.first_payment)} {currency}, then a final payment of "
                f"{m(c.final_payment)} on {rows[-1].due_date.isoformat()}; your savings should cover it.",
                f"前 {n - 1} 期{word_zh} {m(c.first_payment)} {currency}，{rows[-1].due_date.isoformat()} "
                f"最后一期需还 {m(c.final_payment)}，请确保储蓄足以支付。")
    if rows[-1].payment != c.first_payment:
        return (f"{n - 1} payments of {m(c.first_payment)} {currency}, the last {m(rows[-1].payment)}.",
                f"前 {n - 1} 期每期 {m(c.first_payment)} {currency}，最后一期 {m(rows[-1].payment)}。")
    return (f"{n} equal payments of {m(c.first_payment)} {currency}.",
            f"共 {n} 期，每期 {m(c.first_payment)} {currency}。")


def _explain(c: Candidate, letter: str, first: Candidate | None, *, product: ProductTerms,
             shortest: Candidate | None, finances: CustomerFinances, roomiest: Candidate,
             final_limit: tuple[Decimal, Decimal] | None = None) -> tuple[str, str]:
    currency, places = product.currency, product.currency_decimals
    m = lambda v: _money(v, places)  # noqa: E731
    s = c.schedule
    name_en, name_zh = METHOD_NAMES[c.method]
    rate = _rate(s.terms.annual_rate)
    en = [f"Plan {letter}: {name_en} over {c.term} months, {rate}% a year."]
    zh = [f"方案{letter}：{name_zh}，{c.term} 期，年利率 {rate}%。"]
    shape_en, shape_zh = _shape(c, currency, places)
    en.append(shape_en)
    zh.append(shape_zh)
    en.append(f"Total interest {m(s.total_interest)}, fees {m(s.total_fees)}, total payable {m(s.total_payable)} "
              f"{currency}; APR {s.apr}%.")
    zh.append(f"总利息 {m(s.total_interest)}，费用 {m(s.total_fees)}，总还款额 {m(s.total_payable)} {currency}；"
              f"年化利率（APR）{s.apr}%。")
    if c.labels:
        en.append(" · ".join(LABELS[label][0] for label in c.labels) + ".")
        zh.append(" · ".join(LABELS[label][1] for label in c.labels) + "。")
    if c.large_final_payment and final_limit is not None:
        share, limit = final_limit
        en.append(f"Its final payment of {m(c.final_payment)} {currency} is more than {_pct(share)} of your savings "
                  f"plus one month's spare income ({m(limit)}), so we do not mark it as the best match or the "
                  "cheapest.")
        zh.append(f"该方案最后一期需还 {m(c.final_payment)} {currency}，超过您储蓄加一个月结余的 {_pct(share)}"
                  f"（{m(limit)}），因此不将其标为“最适合您”或“总成本最低”。")
    if first is not None and first is not c:
        pay = c.highest_payment - first.highest_payment
        cost = c.total_cost - first.total_cost
        if pay < 0:
            pay_en, pay_zh = f"lower monthly payment ({m(-pay)} less)", f"月供低 {m(-pay)}"
        elif pay > 0:
            pay_en, pay_zh = f"higher monthly payment ({m(pay)} more)", f"月供高 {m(pay)}"
        else:
            pay_en, pay_zh = "the same monthly payment", "月供相同"
        if cost > 0:
            cost_en, cost_zh = f"{m(cost)} more interest and fees", f"利息和费用多 {m(cost)}"
        elif cost < 0:
            cost_en, cost_zh = f"{m(-cost)} less interest and fees", f"利息和费用少 {m(-cost)}"
        else:
            cost_en, cost_zh = "the same cost", "成本相同"
        en.append(f"Compared with plan A: {pay_en}, {cost_en}.")
        zh.append(f"与方案A相比：{pay_zh}，{cost_zh}。")
    dti = finances.debt_to_income
    if (dti is not None and dti >= HIGH_DEBT_TO_INCOME and shortest is not None and shortest.term < c.term
            and shortest.total_cost < c.total_cost):
        saving = c.total_cost - shortest.total_cost
        en.append(f"Advice: you already spend {_pct(dti)} of your income on debt repayments; a shorter term "
                  f"({shortest.term} months) saves {m(saving)} and clears your debt sooner.")
        zh.append(f"建议：您目前 {_pct(dti)} 的收入用于偿还债务；选择更短的期限（{shortest.term} 期）可节省 "
                  f"{m(saving)}，并更快还清债务。")
    if (finances.income_volatility is not None and finances.income_volatility >= VOLATILE_INCOME
            and c is roomiest):
        en.append("Advice: your income varies a lot from month to month; this plan leaves the most room in a "
                  "lean month.")
        zh.append("建议：您的收入月度波动较大，此方案在收入较低的月份留有最大余地。")
    return " ".join(en), "".join(zh)


def _explained(chosen: list[Candidate], product: ProductTerms, finances: CustomerFinances,
               final_limit: tuple[Decimal, Decimal] | None = None) -> tuple[OfferCandidate, ...]:
    if not chosen:
        return ()
    shortest = min(chosen, key=lambda c: (c.term, c.total_cost))
    roomiest = max(chosen, key=lambda c: c.headroom)
    first = chosen[0]
    offers = []
    for index, c in enumerate(chosen):
        letter = chr(ord("A") + index)
        en, zh = _explain(c, letter, first, product=product, shortest=shortest, finances=finances, roomiest=roomiest,
                          final_limit=final_limit)
        offers.append(OfferCandidate(
            rank=index + 1,
            letter=letter,
            schedule=c.schedule,
            installment=c.first_payment,
            highest_installment=c.highest_payment,
            lowest_installment=c.lowest_payment,
            final_payment=c.final_payment,
            total_cost=c.total_cost,
            payment_to_income=c.payment_to_income.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP),
            debt_service_ratio=c.debt_service_ratio.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP),
            headroom=c.headroom.quantize(product.unit, rounding=ROUND_DOWN),
            score=round(c.score, 4),
            labels=tuple(c.labels),
            explanation_en=en,
            explanation_zh=zh,
            large_final_payment=c.large_final_payment,
        ))
    return tuple(offers)


# ---------------------------------------------------------------------------------------------
# When nothing (or not what was asked) is affordable


def _annuity_candidate(product, pricing, preference, amount, term) -> PlanTerms | None:
    try:
        return PlanTerms(
            amount=amount, annual_rate=pricing.annual_rate, term=term, method="annuity",
            disbursement_date=preference.disbursement_date, upfront_fee=product.upfront_fee(amount),
            upfront_fee_financed=product.upfront_fee_financed, monthly_fee=product.monthly_fee,
            currency_decimals=product.currency_decimals,
        )
    except ScheduleError:
        return None


def _fits(product, pricing, preference, amount, term, budget) -> Candidate | None:
    terms = _annuity_candidate(product, pricing, preference, amount, term)
    if terms is None:
        return None
    candidate = assess(Candidate(terms=terms), product, budget)
    return candidate if candidate.affordable else None


def shortest_affordable_term(product, pricing, preference, amount, budget, *, after: int = 0) -> Candidate | None:
    """The shortest term (after `after`) at which `amount` is affordable as equal installments."""
    if not budget.income:
        return None
    limit = budget.level_limit
    for term in range(max(pricing.min_term, after + 1), pricing.max_term + 1):
        if _level_payment(product, pricing.annual_rate, amount, term) <= limit:
            for tried in range(term, min(term + 3, pricing.max_term) + 1):  # rounding can cost a cent
                fit = _fits(product, pricing, preference, amount, tried, budget)
                if fit is not None:
                    return fit
            return None
    return None


def largest_affordable_amount(product, pricing, preference, budget) -> Candidate | None:
    """The largest amount (a round figure) affordable as equal installments over the longest term."""
    if not budget.income:
        return None
    term = pricing.max_term
    room = budget.level_limit - product.monthly_fee
    if room <= 0:
        return None
    factor = _annuity_factor(pricing.annual_rate / 1200, term)
    if product.upfront_fee_financed:
        factor *= ONE + product.upfront_fee_rate / HUNDRED
    step = HUNDRED if pricing.max_amount >= 1000 else product.unit
    amount = min((room / factor / step).to_integral_value(rounding=ROUND_DOWN) * step, pricing.max_amount)
    for _ in range(8):
        if amount < product.min_amount:
            return None
        fit = _fits(product, pricing, preference, amount, term, budget)
        if fit is not None:
            return fit
        amount = ((amount * Decimal("0.98")) / step).to_integral_value(rounding=ROUND_DOWN) * step
    return None


def _suggestion(fit: Candidate, product: ProductTerms, *, smaller: bool) -> Suggestion:
    m = lambda v: _money(v, product.currency_decimals)  # noqa: E731
    s, cur = fit.schedule, product.currency
    amount, term = fit.terms.amount, fit.term
    if smaller:
        en = (f"We could lend up to {m(amount)} {cur} over {term} months in equal installments of "
              f"{m(fit.highest_payment)} (APR {s.apr}%).")
        zh = f"我们可以为您提供最多 {m(amount)} {cur}，分 {term} 期等额还款，每期 {m(fit.highest_payment)}（APR {s.apr}%）。"
    else:
        en = (f"{m(amount)} {cur} becomes affordable over {term} months, in equal installments of "
              f"{m(fit.highest_payment)} (APR {s.apr}%).")
        zh = f"若分 {term} 期，{m(amount)} {cur} 即在可负担范围内，每期等额 {m(fit.highest_payment)}（APR {s.apr}%）。"
    return Suggestion(amount=amount, term=term, method="annuity", installment=fit.highest_payment, apr=s.apr,
                      en=en, zh=zh)


def _reasons(assessed: list[Candidate], product: ProductTerms, budget: _Budget) -> list[Message]:
    """Why no candidate was affordable, in figures, most telling first."""
    counts: dict[str, int] = {}
    for c in assessed:
        counts[c.rejection] = counts.get(c.rejection, 0) + 1
    m = lambda v: _money(v, product.currency_decimals)  # noqa: E731
    if "no_income" in counts or not budget.income:
        return [Message("no_income", "We need your monthly income to check what you can afford; add it to your "
                        "profile.", "我们需要您的月收入来评估还款能力，请在个人资料中填写。")]
    reasons = []
    room = budget.level_limit
    lean = " in your lower-income months" if budget.low_months else ""
    lean_zh = "在收入较低的月份" if budget.low_months else ""
    if room <= product.monthly_fee:
        reasons.append(Message(
            "no_room",
            f"Your existing debt payments and expenses ({m(budget.outgoings)} a month) already take "
            f"{_pct(budget.outgoings / budget.income_in(min(budget.low_months or {1})))} of your income{lean}; "
            f"with a new installment our limit is {_pct(budget.max_dsr)}.",
            f"您现有的债务还款和支出（每月 {m(budget.outgoings)}）{lean_zh}已占收入的 "
            f"{_pct(budget.outgoings / budget.income_in(min(budget.low_months or {1})))}，"
            f"加上新的分期后上限为 {_pct(budget.max_dsr)}。",
        ))
    else:
        over = [c for c in assessed if c.rejection in ("payment_to_income", "debt_service_ratio")]
        if over:
            lowest = min(over, key=lambda c: c.highest_payment)
            reasons.append(Message(
                "over_budget",
                f"The lowest installment we could offer is {m(lowest.highest_payment)} a month; your income and "
                f"commitments allow at most {m(room)} a month{lean} (limits: installment {_pct(budget.max_pti)} "
                f"of income, all debts and expenses {_pct(budget.max_dsr)}).",
                f"我们能提供的最低月供为 {m(lowest.highest_payment)}；按您的收入和支出，{lean_zh}每月最多可承担 "
                f"{m(room)}（上限：月供不超过收入的 {_pct(budget.max_pti)}，全部债务和支出不超过 "
                f"{_pct(budget.max_dsr)}）。",
            ))
    if "final_payment" in counts:
        reasons.append(Message("final_payment", "Plans with a final lump sum need savings that cover it.",
                               "含尾款的方案需要有足够的储蓄来支付尾款。"))
    if "apr_cap" in counts:
        reasons.append(Message(
            "apr_cap",
            f"Some plans would cost more than the legal maximum APR of {product.max_apr}% and are not offered.",
            f"部分方案的年化利率将超过法定上限 {product.max_apr}%，因此不予提供。",
        ))
    if not reasons:
        reasons.append(Message("no_plan", "No plan fits this request.", "没有适合该申请的还款方案。"))
    return reasons


# ---------------------------------------------------------------------------------------------
# Public


def offers_build(
    *,
    product: ProductTerms,
    stance: CreditStance,
    finances: CustomerFinances,
    grade: str | None,
    preference: Preference,
    max_final_payment_share: Decimal | None = None,
) -> OfferSet:
    """Up to `preference.count` affordable offers, ranked and explained; or why none, and what would be.

    Deterministic: the same inputs give the same offers in the same order. Amounts are exact
    Decimals from `build_schedule`; an amount above the customer's limit is reduced to the limit
    (and said so). `max_final_payment_share` (a fraction above 0; None: no limit): a plan whose
    final payment is above its regular installments and above that share x (savings + one month's
    surplus) is never labelled best match or cheapest (see `final_payment_limit`). Raises
    ScheduleError only for malformed inputs.
    """
    if max_final_payment_share is not None and max_final_payment_share <= 0:
        raise ScheduleError("max_final_payment_share", "must be a fraction above 0")
    with localcontext(prec=34):
        pricing = price(product, stance, grade, finances)
        notes = _pricing_notes(pricing, product)
        requested = preference.amount
        unit = product.unit
        amount = min(requested, pricing.max_amount).quantize(unit, rounding=ROUND_DOWN)

        def refused(*reasons: Message, suggestion=None, considered=0, rejected=None) -> OfferSet:
            return OfferSet(offers=(), pricing=pricing, currency=product.currency, requested_amount=requested,
                            amount=amount, considered=considered, rejected=rejected or {}, reasons=reasons,
                            notes=tuple(notes), suggestion=suggestion)

        if pricing.refused is not None:
            return refused(pricing.refused)
        if requested < product.min_amount:
            return refused(Message(
                "amount_below_minimum",
                f"The smallest amount for this product is {_money(product.min_amount)} {product.currency}.",
                f"该产品的最低借款金额为 {_money(product.min_amount)} {product.currency}。"))
        if amount < product.min_amount:
            return refused(Message(
                "limit_below_minimum",
                f"Your limit for this product ({_money(pricing.max_amount)} {product.currency}) is below its "
                "smallest amount.",
                f"您在该产品的额度（{_money(pricing.max_amount)} {product.currency}）低于最低借款金额。"))
        if amount < requested:
            notes.append(Message(
                "amount_reduced",
                f"You asked for {_money(requested)} {product.currency}; your limit for this product is "
                f"{_money(amount)}, so these plans are for {_money(amount)}.",
                f"您申请 {_money(requested)} {product.currency}；您在该产品的额度为 {_money(amount)}，"
                f"以下方案按 {_money(amount)} 计算。"))

        low_months = low_income_months(preference, finances)
        if preference.income_pattern == "seasonal" and not low_months:
            notes.append(Message("seasonal_months_unknown",
                                 "Tell us which months your income is lower and we can offer a seasonal plan.",
                                 "告诉我们您哪几个月收入较低，我们即可为您提供季节性还款方案。"))
        budget = customer_budget(product, finances, low_months)
        plans, _anchor = candidate_terms(product, pricing, preference, amount, low_months)
        assessed = [assess(Candidate(terms=t), product, budget) for t in plans]

        if preference.term is not None:
            term = min(max(preference.term, pricing.min_term), pricing.max_term)
            wanted = [c for c in assessed if c.term == term and c.method not in LUMP_SUM_METHODS]
            if wanted and not any(c.affordable for c in wanted):
                fit = shortest_affordable_term(product, pricing, preference, amount, budget, after=preference.term)
                if fit is not None:
                    if not any(c.affordable and c.term == fit.term and c.method == "annuity" for c in assessed):
                        assessed.append(fit)
                    notes.append(Message(
                        "preferred_term_unaffordable",
                        f"{preference.term} months is not affordable for you; the shortest term that fits is "
                        f"{fit.term} months.",
                        f"{preference.term} 期超出您的还款能力；可负担的最短期限为 {fit.term} 期。"))

        rejected: dict[str, int] = {}
        for c in assessed:
            if c.rejection:
                rejected[c.rejection] = rejected.get(c.rejection, 0) + 1
        affordable = [c for c in assessed if c.affordable]
        if not affordable:
            fit = largest_affordable_amount(product, pricing, preference, budget)
            suggestion = _suggestion(fit, product, smaller=True) if fit is not None else None
            reasons = _reasons(assessed, product, budget)
            return refused(*reasons, suggestion=suggestion, considered=len(assessed), rejected=rejected)

        final_limit = None
        if max_final_payment_share is not None:
            limit = final_payment_limit(finances, max_final_payment_share)
            _mark_large_final_payments(affordable, limit)
            final_limit = (max_final_payment_share, limit)
        rank(affordable, preference, low_months)
        chosen = select(affordable, preference, low_months)
        return OfferSet(
            offers=_explained(chosen, product, finances, final_limit),
            pricing=pricing,
            currency=product.currency,
            requested_amount=requested,
            amount=amount,
            considered=len(assessed),
            rejected=rejected,
            notes=tuple(notes),
        )


def offer_terms_to_dict(terms: PlanTerms) -> dict:
    """The engine inputs of a plan, JSON-ready (Decimals as strings, dates ISO, months sorted);
    `offer_terms_from_dict` reads it back."""
    data = {}
    for name in PlanTerms.__dataclass_fields__:
        value = getattr(terms, name)
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, tuple):
            value = [None if v is None else str(v) for v in value]
        data[name] = value
    return data


def offer_terms_from_dict(data: Mapping) -> PlanTerms:
    """The PlanTerms stored by `offer_terms_to_dict`."""
    values = dict(data)
    for name in ("disbursement_date", "first_due_date"):
        if values.get(name):
            values[name] = date.fromisoformat(values[name])
    for name in ("amount", "annual_rate", "upfront_fee", "monthly_fee", "installment_multiple", "balloon_amount",
                 "step_ratio", "seasonal_factor", "lump_sum_share", "lump_sum_amount"):
        if values.get(name) is not None:
            values[name] = Decimal(values[name])
    values["seasonal_months"] = frozenset(values.get("seasonal_months") or ())
    values["custom_payments"] = tuple(None if v is None else Decimal(v) for v in values.get("custom_payments") or ())
    return PlanTerms(**values)


__all__ = [
    "CreditStance", "CustomerFinances", "Message", "OfferCandidate", "OfferSet", "Preference", "Pricing",
    "ProductTerms", "Suggestion", "Tier", "final_payment_limit", "offers_build", "price", "offer_terms_to_dict",
    "offer_terms_from_dict",
]
