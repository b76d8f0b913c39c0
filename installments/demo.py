"""Demo loan products with price tiers A-G, fees and the legal APR cap, and a neutral credit policy.

Idempotent: rows are found by their natural keys (product code, product + grade, policy name) and
only created when missing, so admin edits survive a second run.
"""

from datetime import date
from decimal import Decimal

from django.db import transaction

from installments.models import CreditPolicy, LoanProduct, PriceTier

D = Decimal

# grade: (annual rate %, maximum amount, longest term in months)
PRODUCTS = [
    {
        "code": "everyday",
        "name": "Everyday purchase",
        "name_zh": "日常消费分期",
        "description": "Phones, appliances, furniture: 1,000-50,000 CNY over 3-24 months, with a 0% promotion "
                       "over up to 6 months.",
        "min_amount": D("1000"), "max_amount": D("50000"), "min_term_months": 3, "max_term_months": 24,
        "allowed_methods": ["annuity", "equal_principal", "step_up", "seasonal", "zero_interest", "custom"],
        "upfront_fee_rate": D("1.0"), "monthly_fee": D("0"),
        "promo_max_term_months": 6, "promo_monthly_fee_rate": D("0.6"),
        "max_payment_to_income": D("0.40"), "max_debt_service_ratio": D("0.70"),
        "late_fee_flat": D("30"), "penalty_rate": D("12"),
        "tiers": {"A": ("7.2", "50000", 24), "B": ("9.6", "45000", 24), "C": ("12.0", "40000", 24),
                  "D": ("14.4", "30000", 24), "E": ("16.8", "20000", 18), "F": ("19.2", "12000", 12),
                  "G": ("21.6", "8000", 12)},
    },
    {
        "code": "education",
        "name": "Education",
        "name_zh": "教育分期",
        "description": "Tuition and training: 5,000-100,000 CNY over 6-48 months; pay interest only while "
                       "you study, or start low and step up.",
        "min_amount": D("5000"), "max_amount": D("100000"), "min_term_months": 6, "max_term_months": 48,
        "allowed_methods": ["annuity", "equal_principal", "step_up", "interest_only", "seasonal", "custom"],
        "upfront_fee_rate": D("0"), "monthly_fee": D("0"),
        "max_payment_to_income": D("0.35"), "max_debt_service_ratio": D("0.70"),
        "late_fee_flat": D("20"), "penalty_rate": D("12"),
        "tiers": {"A": ("6.0", "100000", 48), "B": ("7.8", "90000", 48), "C": ("9.6", "80000", 48),
                  "D": ("11.4", "60000", 36), "E": ("13.2", "40000", 36), "F": ("15.0", "25000", 24),
                  "G": ("16.8", "15000", 24)},
    },
    {
        "code": "small-business",
        "name": "Small business",
        "name_zh": "小微经营贷",
        "description": "Stock, equipment and working capital: 10,000-300,000 CNY over 6-36 months; seasonal, "
                       "balloon and interest-only plans for businesses with uneven takings.",
        "min_amount": D("10000"), "max_amount": D("300000"), "min_term_months": 6, "max_term_months": 36,
        "allowed_methods": ["annuity", "equal_principal", "step_up", "seasonal", "interest_only", "balloon",
                            "combination", "custom"],
        "upfront_fee_rate": D("1.5"), "monthly_fee": D("10"),
        "max_payment_to_income": D("0.45"), "max_debt_service_ratio": D("0.75"),
        "late_fee_flat": D("50"), "penalty_rate": D("12"),
        "tiers": {"A": ("7.2", "300000", 36), "B": ("9.6", "250000", 36), "C": ("12.0", "200000", 36),
                  "D": ("14.4", "150000", 36), "E": ("16.8", "100000", 24), "F": ("19.2", "60000", 24),
                  "G": ("21.6", "30000", 12)},
    },
]
STANDARD_POLICY = {"name": "Standard stance", "effective_from": date(2025, 1, 1), "rate_adjustment": D("0"),
                   "max_amount_factor": D("1"), "cutoff_grade": "G",
                   "reason": "Neutral stance: tier prices and limits as published."}


def ensure_products() -> list[LoanProduct]:
    """The demo products with their tiers (created when missing; existing rows are left as edited)."""
    products = []
    for spec in PRODUCTS:
        spec = dict(spec)
        tiers = spec.pop("tiers")
        product, _ = LoanProduct.objects.get_or_create(code=spec.pop("code"), defaults=spec)
        for grade, (rate, max_amount, max_term) in tiers.items():
            PriceTier.objects.get_or_create(product=product, grade=grade, defaults={
                "annual_rate": D(rate), "max_amount": D(max_amount), "max_term_months": max_term})
        products.append(product)
    return products


def ensure_standard_policy() -> CreditPolicy:
    policy = CreditPolicy.objects.filter(product__isnull=True, name=STANDARD_POLICY["name"]).first()
    if policy is None:
        policy = CreditPolicy.objects.create(product=None, **STANDARD_POLICY)
    return policy


def seed_demo(*, stdout, customers=None) -> None:
    with transaction.atomic():
        products = ensure_products()
        policy = ensure_standard_policy()
    stdout.write(f"installments: {len(products)} products ({', '.join(p.name for p in products)}), "
                 f"credit policy '{policy.name}' from {policy.effective_from}")


# --- What demo applicants ask for ---------------------------------------------------------------------
#
# Requests follow the consumer-credit book the default model is trained on (scoring.consumer_credit):
# the installment asked for is a share of income drawn as there (log-normal, median 25 %: a little
# above the book's 21 % because our longest term is four years, not five, one in ten above 45 %), the term mostly three to four years (a few short everyday purchases), and the amount
# is what that installment repays over that term at 12 % a year, rounded to 500 yuan and kept within
# the product that fits the request.

# (product code, share, {term: share}, purposes) by kind of applicant.
REQUEST_MIX = {
    "business": [("small-business", 0.6, {24: 0.15, 30: 0.05, 36: 0.8}, ["business"]),
                 ("education", 0.3, {36: 0.15, 42: 0.05, 48: 0.8}, ["education"]),
                 ("everyday", 0.1, {12: 0.3, 18: 0.2, 24: 0.5}, ["appliances", "car", "renovation"])],
    "student": [("education", 0.85, {36: 0.15, 42: 0.05, 48: 0.8}, ["education"]),
                ("everyday", 0.15, {6: 0.2, 12: 0.4, 24: 0.4}, ["appliances", "travel"])],
    "household": [("education", 0.6, {36: 0.15, 42: 0.05, 48: 0.8}, ["education"]),
                  ("small-business", 0.25, {24: 0.15, 30: 0.05, 36: 0.8}, ["business"]),
                  ("everyday", 0.15, {12: 0.3, 18: 0.2, 24: 0.5},
                   ["appliances", "furniture", "renovation", "car", "medical", "travel"])],
}
PRODUCT_RANGES = {spec["code"]: (spec["min_amount"], spec["max_amount"]) for spec in PRODUCTS}
REQUEST_RATE_PERCENT = 12.0
PAYMENT_SHARE_MEDIAN, PAYMENT_SHARE_SIGMA = 0.25, 0.5


def loan_request(g, *, monthly_income: Decimal, employment_type: str, debt_payments: Decimal = Decimal("0")) -> dict:
    """A demo applicant's request: product code, amount (CNY), term (months) and purpose, drawn with
    the numpy Generator `g` from the applicant's monthly income, kind of work and the monthly
    payments on their debts elsewhere (see above). Most applicants keep all their payments within
    half their income; one in ten asks for more than that."""
    kind = ("business" if employment_type in ("self_employed", "business_owner")
            else "student" if employment_type == "student" else "household")
    options = REQUEST_MIX[kind]
    shares = [share for _code, share, _terms, _purposes in options]
    code, _share, terms, purposes = options[int(g.choice(len(options), p=shares))]
    term = int(g.choice(list(terms), p=list(terms.values())))
    income = float(monthly_income) if monthly_income > 0 else 2_500.0  # what someone without income hopes for
    installment = income * PAYMENT_SHARE_MEDIAN * float(g.lognormal(0.0, PAYMENT_SHARE_SIGMA))
    if g.random() < 0.9:
        installment = min(installment, max(0.5 * income - float(debt_payments), 0.06 * income))
    r = REQUEST_RATE_PERCENT / 1200
    amount = installment * (1 - (1 + r) ** -term) / r
    low, high = PRODUCT_RANGES[code]
    amount = min(max(Decimal(int(round(amount / 500)) * 500), low), high)
    return {"product": code, "amount": amount.quantize(Decimal("0.01")), "term_months": term,
            "purpose": purposes[int(g.integers(len(purposes)))]}
