"""Questions about products, policies, grades and offers, for pages, the API and the offer services."""

from datetime import date
from decimal import Decimal

from django.db.models import F, Prefetch, Q, QuerySet
from django.utils import timezone

from customers.roles import Role
from installments.engine.offers import CreditStance, ProductTerms, Tier
from installments.models import Application, CreditPolicy, Decision, LoanProduct, Offer, PriceTier

# The grade the public calculator prices at by default ("rates from ... for a typical customer").
# Who takes a first decision on an application (and generates its contract); see decisions.
DECIDE_ROLES = (Role.LOAN_OFFICER, Role.APPROVER, Role.ADMIN)
PUBLIC_GRADE = "C"


def product_list_public() -> QuerySet[LoanProduct]:
    """Active products with their price tiers (grade order), for the public list and the calculator."""
    return (LoanProduct.objects.filter(is_active=True)
            .prefetch_related(Prefetch("price_tiers", queryset=PriceTier.objects.order_by("grade")))
            .order_by("code"))


def product_get(*, code: str | None = None, pk: int | None = None, active_only: bool = True) -> LoanProduct | None:
    queryset = product_list_public() if active_only else LoanProduct.objects.prefetch_related("price_tiers")
    if code is not None:
        return queryset.filter(code=code).first()
    return queryset.filter(pk=pk).first()


def product_public_rate(product: LoanProduct) -> Decimal | None:
    """The rate the calculator starts from: tier C's, else the product's lowest tier rate (None without tiers)."""
    tiers = list(product.price_tiers.all())
    tier = next((t for t in tiers if t.grade == PUBLIC_GRADE), None)
    if tier is not None:
        return tier.annual_rate
    return min((t.annual_rate for t in tiers), default=None)


def product_rate_range(product: LoanProduct) -> tuple[Decimal, Decimal] | None:
    rates = [t.annual_rate for t in product.price_tiers.all()]
    return (min(rates), max(rates)) if rates else None


def product_terms(product: LoanProduct) -> ProductTerms:
    """The offer engine's view of a product and its tiers (plain values)."""
    return ProductTerms(
        code=product.code,
        currency=product.currency,
        currency_decimals=product.currency_decimals,
        min_amount=product.min_amount,
        max_amount=product.max_amount,
        min_term=product.min_term_months,
        max_term=product.max_term_months,
        tiers=tuple(Tier(t.grade, t.annual_rate, t.max_amount, t.max_term_months) for t in product.price_tiers.all()),
        methods=tuple(product.methods()),
        upfront_fee_rate=product.upfront_fee_rate,
        upfront_fee_financed=product.upfront_fee_financed,
        monthly_fee=product.monthly_fee,
        max_apr=product.max_apr,
        max_payment_to_income=product.max_payment_to_income,
        max_debt_service_ratio=product.max_debt_service_ratio,
        promo_max_term=product.promo_max_term_months,
        promo_monthly_fee_rate=product.promo_monthly_fee_rate,
    )


def credit_policy_in_force(*, product: LoanProduct | None = None, on: date | None = None) -> CreditPolicy | None:
    """The policy in force on `on` (default today): the product's own latest effective one, else
    the latest one for all products; None when no policy was ever set (the neutral stance applies)."""
    on = on or timezone.localdate()
    effective = CreditPolicy.objects.filter(effective_from__lte=on).order_by("-effective_from", "-pk")
    if product is not None:
        own = effective.filter(product=product).first()
        if own is not None:
            return own
    return effective.filter(product__isnull=True).first()


def credit_stance(policy: CreditPolicy | None) -> CreditStance:
    """The engine's view of a policy; the neutral stance when there is none."""
    if policy is None:
        return CreditStance()
    return CreditStance(
        name=policy.name,
        rate_adjustment=policy.rate_adjustment,
        max_amount_factor=policy.max_amount_factor,
        max_term=policy.max_term_months,
        cutoff_grade=policy.cutoff_grade,
    )


def credit_policy_list() -> QuerySet[CreditPolicy]:
    return CreditPolicy.objects.select_related("product", "created_by").order_by("-effective_from", "-pk")


def application_score(application: Application):
    """The application's ScoreResult, or None before scoring."""
    from scoring.models import ScoreResult

    return ScoreResult.objects.filter(application_id=application.pk).first()


def score_knocks_out(score) -> bool:
    """Whether a stored ScoreResult declines by the credit policy: outcome knocked_out, or any rule
    hit marked knock_out (None: not scored, so no)."""
    return score is not None and bool(score.knocked_out or score.knock_out_hits)


def application_declined_by_policy(application: Application, *, score=None) -> bool:
    """True when the application is declined, or its score result hit a knock-out rule: such an
    application gets no offers and its customer is shown the decline, never priced plans.
    `score`: the application's ScoreResult when the caller has it already (else it is read)."""
    if application.state == Application.State.DECLINED:
        return True
    return score_knocks_out(score if score is not None else application_score(application))


def decline_messages(application: Application) -> list[dict]:
    """Why the application is declined, in both languages ({"code", "en", "zh"}, as the offer
    summary's reasons): the knock-out rules' reasons ("knocked_out"), then the officer's decline
    reasons ("declined", decisions.decline_reasons_for_customer). Empty when neither exists."""
    from installments.origination.decisions import decline_reasons_for_customer  # decisions imports this module

    score = application_score(application)
    messages = [{"code": "knocked_out", "en": hit.get("text_en") or "", "zh": hit.get("text_zh") or ""}
                for hit in (score.knock_out_hits if score is not None else [])]
    english = decline_reasons_for_customer(application, language="en")
    chinese = decline_reasons_for_customer(application, language="zh-hans")
    messages += [{"code": "declined", "en": en, "zh": zh} for en, zh in zip(english, chinese, strict=False)]
    return messages


def customer_decline_reasons(application: Application, *, language: str = "en") -> list[str]:
    """What a declined (or knocked-out) customer is told, in plain words in `language`: the
    knock-out rules' reasons, then the officer's decline reasons (see decline_messages)."""
    key = "zh" if (language or "").lower().startswith("zh") else "en"
    reasons: list[str] = []
    for message in decline_messages(application):
        if message[key] and message[key] not in reasons:
            reasons.append(message[key])
    return reasons


def customer_latest_grade(user) -> str | None:
    """The grade of the customer's most recently scored application (not knocked out), if any:
    used to price offers asked for before a new application is scored."""
    from scoring.models import ScoreResult

    result = (ScoreResult.objects.filter(application__customer=user, outcome=ScoreResult.Outcome.SCORED)
              .order_by("-scored_at", "-pk").first())
    return result.grade if result else None


def offers_for_application(application: Application) -> QuerySet[Offer]:
    """The application's offers, chosen first then by rank."""
    return (Offer.objects.filter(application=application).select_related("credit_policy", "chosen_by")
            .order_by(F("chosen_at").desc(nulls_last=True), "rank", "pk"))


# A level plan's last installment differs from the others by rounding: only more than this share of the
# regular installment counts as a different final payment.
FINAL_PAYMENT_TOLERANCE = Decimal("0.01")


def offer_final_payment(offer: Offer) -> dict | None:
    """The offer's last payment when it differs from the regular installment (`offer.installment`,
    the first regular one) by more than rounding (FINAL_PAYMENT_TOLERANCE of it): {"amount": Decimal,
    "due_date": ISO date string, "number": installment number}; None for a level plan or without a schedule."""
    schedule = offer.schedule if isinstance(offer.schedule, dict) else {}
    rows = schedule.get("installments") or []
    if len(rows) < 2:
        return None
    last = rows[-1]
    amount = Decimal(str(last["payment"]))
    regular = offer.installment if offer.installment is not None else Decimal(str(rows[0]["payment"]))
    if abs(amount - regular) <= abs(regular) * FINAL_PAYMENT_TOLERANCE:
        return None
    return {"amount": amount, "due_date": last.get("due_date", ""), "number": last.get("number", len(rows))}


def offer_list_for_user(user) -> QuerySet[Offer]:
    """Offers the user may see: their own applications' offers, or every offer for staff who open files."""
    from customers.selectors import can_open_customer_file

    queryset = Offer.objects.select_related("application", "application__product")
    if can_open_customer_file(user):
        return queryset
    return queryset.filter(application__customer=user)


def application_for_user(user, pk: int) -> Application | None:
    """The application if `user` is its customer or may open customer files; None otherwise."""
    from customers.selectors import can_open_customer_file

    application = Application.objects.select_related("product", "customer").filter(pk=pk).first()
    if application is None or not user.is_authenticated:
        return None
    if application.customer_id == user.pk or can_open_customer_file(user):
        return application
    return None


def applications_with_offers_for_customer(user) -> QuerySet[Application]:
    return (Application.objects.filter(customer=user).filter(Q(offers__isnull=False))
            .select_related("product").distinct().order_by("-created_at", "-pk"))


def effective_approval(application: Application) -> Decision | None:
    """The approval or counter-offer in effect (final or confirmed), latest first."""
    return (Decision.objects.filter(application=application, kind__in=(Decision.Kind.APPROVE, Decision.Kind.COUNTER_OFFER),
                                    status__in=(Decision.Status.FINAL, Decision.Status.CONFIRMED))
            .select_related("offer").order_by("-decided_at", "-pk").first())
