"""Verbs of origination: create, edit, submit and move applications through their states; quote
plans; make, store and choose personalised offers; set the credit policy stance."""

import logging
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import DomainError
from customers import outbox
from customers.audit import audit_record, transition
from customers.roles import Role
from customers.selectors import profile_summary as customer_profile_summary
from installments.engine.offers import (
    GRADES,
    CustomerFinances,
    OfferCandidate,
    OfferSet,
    Preference,
    offer_terms_to_dict,
    offers_build,
)
from installments.engine.schedules import (
    FREQUENCIES,
    PlanTerms,
    Schedule,
    ScheduleError,
    build_schedule,
    schedule_to_dict,
)
from installments.models import Application, CreditPolicy, LoanProduct, Offer
from installments.origination import experiments, selectors

logger = logging.getLogger(__name__)

# The credit assessment of a submitted application (installments.assessment.tasks), queued by name.
SCORE_TASK = "scoring.tasks.score_application"

EDITABLE_FIELDS = (
    "product", "amount", "term_months", "purpose", "preferred_method", "target_monthly_payment",
    "income_pattern", "low_income_months",
)


def _validate_request(*, product: LoanProduct, amount: Decimal, term_months: int | None, low_income_months) -> None:
    if not product.is_active:
        raise DomainError("This product is not available.", field="product")
    if amount is None or amount <= 0:
        raise DomainError("Enter an amount greater than zero.", field="amount")
    if not product.min_amount <= amount <= product.max_amount:
        raise DomainError(
            f"The amount must be between {product.min_amount} and {product.max_amount} {product.currency}.",
            field="amount",
        )
    if term_months is not None and not product.min_term_months <= term_months <= product.max_term_months:
        raise DomainError(
            f"The term must be between {product.min_term_months} and {product.max_term_months} months.",
            field="term_months",
        )
    if any(not isinstance(m, int) or not 1 <= m <= 12 for m in low_income_months or ()):
        raise DomainError("Months with lower income must be month numbers 1 to 12.", field="low_income_months")


@transaction.atomic
def application_create(*, customer, product: LoanProduct, amount: Decimal, by=None, **fields) -> Application:
    """Start a draft application for `customer`; validated against the product's ranges."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    _validate_request(product=product, amount=amount, term_months=fields.get("term_months"),
                      low_income_months=fields.get("low_income_months"))
    application = Application.objects.create(customer=customer, product=product, amount=amount, **fields)
    audit_record(actor=by or customer, action="application.create", target=application,
                 to_state=application.state)
    return application


@transaction.atomic
def application_update(*, application: Application, by, **fields) -> Application:
    """Change a draft's request; only drafts can be edited."""
    application = Application.objects.select_for_update().get(pk=application.pk)
    if application.state != Application.State.DRAFT:
        raise DomainError("Only a draft application can be changed.", field="state")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    changed = {k: v for k, v in fields.items() if getattr(application, k) != v}
    for key, value in changed.items():
        setattr(application, key, value)
    _validate_request(product=application.product, amount=application.amount, term_months=application.term_months,
                      low_income_months=application.low_income_months)
    application.save()
    if changed:
        audit_record(actor=by, action="application.update", target=application,
                     data={k: str(v.pk if hasattr(v, "pk") else v) for k, v in changed.items()})
    return application


def application_transition(*, application: Application, to: str, by, reason: str = "",
                           data: dict | None = None, locked: bool = False) -> Application:
    """Move an application along an allowed edge, locked, with the audit record (who, when, why).

    `locked=True`: the caller's transaction holds `application`'s row lock already (it read the
    row with select_for_update); that instance is moved as it is, without reading it again.
    """
    if locked:
        if transaction.get_autocommit():
            raise RuntimeError("locked=True: move the application inside the transaction that locked it")
        _transition_locked(application, to=to, by=by, reason=reason, data=data)
        return application
    with transaction.atomic():
        application = Application.objects.select_for_update().get(pk=application.pk)
        _transition_locked(application, to=to, by=by, reason=reason, data=data)
    return application


def _transition_locked(application: Application, *, to: str, by, reason: str, data: dict | None) -> None:
    extra: tuple[str, ...] = ()
    if to == Application.State.SUBMITTED and application.submitted_at is None:
        application.submitted_at = timezone.now()
        extra = ("submitted_at",)
    elif to in (Application.State.APPROVED, Application.State.DECLINED):
        application.decided_at = timezone.now()
        extra = ("decided_at",)
    transition(application, to=to, by=by, reason=reason, allowed=Application.TRANSITIONS, data=data,
               extra_update_fields=(*extra, "updated_at"))


def application_submit(*, application: Application, by, locked: bool = False) -> Application:
    """Submit a draft: it is saved as 'submitted, awaiting score' and scoring is queued in the same
    transaction (the outbox publishes it after commit).
    `locked`: the caller's transaction holds the application's row lock (see application_transition).

    If the broker or worker is down the application stays saved in that state with its outbox row;
    the outbox dispatcher publishes it when the broker is back (and the scoring sweep scores what is
    left `submitted`), so a submission is never lost.
    """
    submitted = application_transition(application=application, to=Application.State.SUBMITTED, by=by,
                                       reason="submitted by customer" if by.pk == application.customer_id else "submitted",
                                       locked=locked)
    enqueue_scoring(application_id=submitted.pk)
    return submitted


def enqueue_scoring(*, application_id: int) -> bool:
    """Queue the scoring task in the caller's transaction (customers.outbox): published after commit
    with one bounded broker call, or later by the outbox dispatcher when the broker cannot take it."""
    outbox.enqueue(SCORE_TASK, args=[application_id])
    return True


# --- Quotes, offers and credit policy ------------------------------------------------------------

# The engine's names for inputs that the API and forms call differently.
QUOTE_FIELD_NAMES = {"term": "term_months", "annual_rate": "annual_interest_rate"}
QUOTE_PLAN_PARAMETERS = (
    "frequency", "due_day", "upfront_fee_financed", "monthly_fee", "balloon_amount", "step_count", "step_ratio",
    "seasonal_months", "seasonal_factor", "lump_sum_share", "lump_sum_amount", "custom_payments",
    "principal_grace_periods", "interest_grace_periods", "interest_grace_mode",
)
# Offers are made, chosen and replaced only while the application is being decided.
OFFER_STATES = (Application.State.SUBMITTED, Application.State.SCORED, Application.State.IN_REVIEW,
                Application.State.DOCUMENTS_REQUESTED, Application.State.AWAITING_APPROVAL)
CHOOSE_STATES = (Application.State.SCORED, Application.State.IN_REVIEW)
POLICY_ROLES = (Role.APPROVER, Role.ADMIN)
CHOOSE_ON_BEHALF_ROLES = (Role.LOAN_OFFICER, Role.ADMIN)
MAX_POLICY_RATE_ADJUSTMENT = Decimal(20)
MAX_POLICY_AMOUNT_FACTOR = Decimal(2)
CREDIT_POLICY_FIELDS = ("name", "product", "effective_from", "rate_adjustment", "max_amount_factor",
                        "max_term_months", "cutoff_grade", "reason")


def legal_max_apr() -> Decimal:
    """The legal APR cap (percent) for quotes without a product: settings.INSTALLMENTS_LEGAL_MAX_APR, default 24."""
    return Decimal(str(getattr(settings, "INSTALLMENTS_LEGAL_MAX_APR", "24")))


def installments_for_term(term_months: int, frequency: str) -> int:
    """How many installments `term_months` months make: the months themselves when monthly, else
    term_months x 52 / 12 (weekly) or x 26 / 12 (bi-weekly), rounded half-up (12 months = 52 weeks)."""
    if frequency not in FREQUENCIES:
        raise DomainError(_("Choose one of %(choices)s.") % {"choices": ", ".join(FREQUENCIES)}, field="frequency")
    if frequency == "monthly":
        return term_months
    return int((Decimal(term_months) * FREQUENCIES[frequency] / 12).to_integral_value(rounding="ROUND_HALF_UP"))


def quote_build(
    *,
    amount: Decimal,
    annual_interest_rate: Decimal,
    term_months: int,
    method: str,
    disbursement_date: date,
    first_due_date: date | None = None,
    day_count: str = "30/360",
    upfront_fee: Decimal = Decimal(0),
    installment_multiple: Decimal | None = None,
    currency_decimals: int = 2,
    max_apr: Decimal | None = None,
    **plan_parameters,
) -> Schedule:
    """The exact schedule of a quote, checked against the APR cap (`max_apr`, default the legal one).

    Raises DomainError naming the input in the API's words (`term_months`, `annual_interest_rate`,
    `custom_payments`, ...): bad values, plans that cannot repay, a nominal rate over the cap
    (`annual_interest_rate`) or fees that push the APR over it (`upfront_fee`, else `monthly_fee`).
    Nothing is stored.
    """
    unknown = set(plan_parameters) - set(QUOTE_PLAN_PARAMETERS)
    if unknown:
        raise DomainError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    cap = legal_max_apr() if max_apr is None else max_apr
    if annual_interest_rate is not None and annual_interest_rate > cap:
        raise DomainError(_("The rate must not exceed the legal maximum APR of %(cap)s%%.") % {"cap": cap},
                          field="annual_interest_rate")
    frequency = plan_parameters.get("frequency") or "monthly"
    if not isinstance(term_months, int) or term_months < 1:
        raise DomainError(_("Enter a term of at least one month."), field="term_months")
    values = {key: value for key, value in plan_parameters.items() if value is not None}
    try:
        terms = PlanTerms(
            amount=amount, annual_rate=annual_interest_rate, term=installments_for_term(term_months, frequency),
            method=method, disbursement_date=disbursement_date, first_due_date=first_due_date,
            day_count=day_count, upfront_fee=upfront_fee, installment_multiple=installment_multiple,
            currency_decimals=currency_decimals, **values,
        )
        schedule = build_schedule(terms)
    except ScheduleError as error:
        raise DomainError(error.message, field=QUOTE_FIELD_NAMES.get(error.field, error.field))
    if schedule.apr > cap:
        field = "upfront_fee" if terms.upfront_fee else "monthly_fee" if terms.monthly_fee else "annual_interest_rate"
        raise DomainError(_("With its fees this plan's APR would be %(apr)s%%, over the legal maximum of %(cap)s%%.")
                          % {"apr": schedule.apr, "cap": cap}, field=field)
    return schedule


def quote_to_dict(schedule: Schedule, *, currency: str | None = None) -> dict:
    """A quote for the API: schedule_to_dict plus the currency."""
    return {**schedule_to_dict(schedule), "currency": currency or settings.DEFAULT_CURRENCY}


def max_final_payment_share() -> Decimal:
    """settings.OFFERS_MAX_FINAL_PAYMENT_SHARE (default 0.5): a plan whose final payment is above its
    regular installments and above this share x (savings + one month's surplus) is never labelled
    best match or cheapest (installments.engine.offers.final_payment_limit)."""
    return Decimal(str(getattr(settings, "OFFERS_MAX_FINAL_PAYMENT_SHARE", "0.5")))


def _customer_summary(user) -> dict | None:
    """The customer's profile summary (customers.selectors.profile_summary), or None without a profile."""
    from customers import selectors as customer_selectors

    profile = customer_selectors.profile_queryset().filter(user_id=user.pk).first()
    return customer_selectors.profile_summary(profile) if profile is not None else None


def _read_profile_summary(customer) -> dict | None:
    """The profile summary of a customer whose profile was read with it (select_related), or None
    without a profile; as `_customer_summary`, without reading the customer and profile again."""
    profile = getattr(customer, "profile", None)
    return customer_profile_summary(profile) if profile is not None else None


def _offer_row(offer: OfferCandidate, *, offer_set: OfferSet, policy: CreditPolicy | None,
               application: Application | None) -> Offer:
    schedule = offer.schedule
    return Offer(
        application=application,
        rank=offer.rank,
        method=offer.method,
        amount=schedule.amount_financed,
        term_months=offer.term,
        annual_rate=schedule.terms.annual_rate,
        installment=offer.installment,
        highest_installment=offer.highest_installment,
        total_interest=schedule.total_interest,
        total_fees=schedule.total_fees,
        total_payable=schedule.total_payable,
        apr=schedule.apr,
        effective_annual_rate=schedule.effective_annual_rate,
        terms=offer_terms_to_dict(schedule.terms),
        schedule=schedule_to_dict(schedule),
        labels=list(offer.labels),
        explanation_en=offer.explanation_en,
        explanation_zh=offer.explanation_zh,
        currency=offer_set.currency,
        grade=offer_set.pricing.grade,
        credit_policy=policy,
    )


def _grade(grade: str | None) -> str | None:
    return grade if grade in tuple(GRADES) else None


def offers_compute(
    *,
    product: LoanProduct,
    summary: dict | None,
    grade: str | None,
    preference: Preference,
    on: date | None = None,
    variant: dict | None = None,
) -> tuple[OfferSet, CreditPolicy | None]:
    """Run the offer engine for a product with the credit policy in force on `on` (default today).

    `summary` is customers.selectors.profile_summary(...) (None: no profile, so no income known);
    `grade` the risk grade (None: not scored yet, the product's middle tier is used and the
    offers say so); `variant` the product experiment arm the applicant is in
    (experiments.experiment_variant_for), whose price and default term are applied.
    Stores nothing.
    """
    policy = selectors.credit_policy_in_force(product=product, on=on)
    try:
        terms = selectors.product_terms(product)
    except ScheduleError as error:  # a product set up wrongly in the admin (no tiers, a limit above 100 %)
        raise DomainError(_("%(product)s cannot be offered yet: %(problem)s.")
                          % {"product": product.name, "problem": error.message}, field="product")
    stance, preference = experiments.variant_apply(variant, stance=selectors.credit_stance(policy),
                                                   preference=preference)
    offer_set = offers_build(
        product=terms,
        stance=stance,
        finances=CustomerFinances.from_summary(summary),
        grade=_grade(grade),
        preference=preference,
        max_final_payment_share=max_final_payment_share(),
    )
    return offer_set, policy


def application_preference(application: Application, *, on: date | None = None, count: int = 5) -> Preference:
    """The preference an application states (amount, term, target payment, type, income pattern)."""
    try:
        return Preference(
            amount=application.amount,
            disbursement_date=on or timezone.localdate(),
            term=application.term_months,
            target_monthly_payment=application.target_monthly_payment,
            method=application.preferred_method or None,
            income_pattern=application.income_pattern,
            low_income_months=frozenset(application.low_income_months or ()),
            count=count,
        )
    except ScheduleError as error:
        raise DomainError(error.message, field=QUOTE_FIELD_NAMES.get(error.field, error.field))


def customer_offers_build(
    *,
    customer,
    product: LoanProduct,
    amount: Decimal,
    term_months: int | None = None,
    target_monthly_payment: Decimal | None = None,
    preferred_method: str = "",
    income_pattern: str = Application.IncomePattern.REGULAR,
    low_income_months=(),
    count: int = 5,
) -> tuple[list[Offer], OfferSet]:
    """Offers for a customer who has not applied yet (or wants to compare), priced at the grade of
    their latest scored application (none: the product's middle tier). Returns unsaved Offer rows
    with full disclosure and the engine's OfferSet (notes, reasons, suggestion). Stores nothing."""
    _validate_request(product=product, amount=amount, term_months=term_months,
                      low_income_months=list(low_income_months or ()))
    try:
        preference = Preference(
            amount=amount, disbursement_date=timezone.localdate(), term=term_months,
            target_monthly_payment=target_monthly_payment, method=preferred_method or None,
            income_pattern=income_pattern, low_income_months=frozenset(low_income_months or ()), count=count,
        )
    except ScheduleError as error:
        raise DomainError(error.message, field=QUOTE_FIELD_NAMES.get(error.field, error.field))
    offer_set, policy = offers_compute(product=product, summary=_customer_summary(customer),
                                       grade=selectors.customer_latest_grade(customer), preference=preference)
    rows = [_offer_row(o, offer_set=offer_set, policy=policy, application=None) for o in offer_set.offers]
    return rows, offer_set


_READ_HERE: Any = object()  # "not read by the caller: read it here" (None is a real answer for both)


def application_offers_generate(*, application: Application, locked: bool = False, score: Any = _READ_HERE,
                                summary: Any = _READ_HERE) -> list[Offer]:
    """Make and store the application's personalised offers; returns them, best first.

    Called by scoring right after an application is scored (and safe to call again): in one
    transaction, with the application locked, it replaces the offers not yet chosen (a chosen
    offer, counter-offers and offers under a contract are kept) with the engine's new set, and
    stores the run's summary (grade and price used, notes; when nothing is affordable the reasons
    and what would be) on `application.offer_summary`. Nothing affordable is an empty list, not
    an error. The grade is the score result's; before scoring, the product's middle tier. A
    knocked-out application (outcome knocked_out, or any rule hit marked knock_out) gets no offers:
    its un-chosen offers are removed and the summary says `declined` with the rules' plain reasons.
    Raises DomainError("state") once the application is decided.

    Online scoring, which holds the application's lock in the same transaction and has just stored
    the score and read the profile, passes `locked=True` (the application as it holds it, with its
    product), the `score` result and the profile `summary`, so none is read twice.
    """
    with transaction.atomic():
        if not locked:
            # Read with its product, customer and profile (one query; only the application's row is
            # locked). The score result is read after the lock: a scoring that held the lock may just
            # have changed it (a row joined here could be the one from before the wait).
            application = (Application.objects.select_for_update(of=("self",))
                           .select_related("product", "customer__profile").get(pk=application.pk))
        if application.state not in OFFER_STATES:
            raise DomainError(_("Offers cannot be made for an application that is %(state)s.")
                              % {"state": application.get_state_display()},
                              field="state")
        product = application.product
        if score is _READ_HERE:
            score = selectors.application_score(application)
        # Offers a decision or a contract points to are part of the record: never replaced.
        replaced = Offer.objects.filter(application=application, chosen_at__isnull=True, is_counter_offer=False,
                                        contracts__isnull=True, decisions__isnull=True)
        if selectors.score_knocks_out(score):
            replaced.delete()
            reasons = [{"code": "knocked_out", "en": hit.get("text_en") or "", "zh": hit.get("text_zh") or ""}
                       for hit in score.knock_out_hits] or [{
                "code": "knocked_out", "en": "The application did not pass our lending rules.",
                "zh": "该申请未通过我们的放款规则。"}]
            application.offer_summary = {"generated_at": timezone.now().isoformat(), "offered": 0,
                                         "declined": True, "reasons": reasons}
            application.save(update_fields=["offer_summary", "updated_at"])
            audit_record(actor=None, action="application.offers_generate", target=application,
                         reason="knocked out: no offers",
                         data={"offers": [], "rules": [hit.get("rule", "") for hit in score.knock_out_hits]})
            return []
        variant = experiments.experiment_variant_for(application=application)
        offer_set, policy = offers_compute(
            product=product,
            summary=_read_profile_summary(application.customer) if summary is _READ_HERE else summary,
            grade=score.grade if score is not None else None, preference=application_preference(application),
            variant=variant,
        )
        replaced.delete()
        rows = Offer.objects.bulk_create(
            [_offer_row(o, offer_set=offer_set, policy=policy, application=application) for o in offer_set.offers]
        )
        application.offer_summary = {
            **offer_set.summary(),
            "generated_at": timezone.now().isoformat(),
            "credit_policy": {"id": policy.pk, "name": policy.name} if policy else None,
            "score_grade": score.grade if score is not None else None,
            "experiment": variant,
        }
        application.save(update_fields=["offer_summary", "updated_at"])
        audit_record(
            actor=None, action="application.offers_generate", target=application,
            reason="" if rows else "nothing affordable",
            data={"offers": [o.pk for o in rows], "grade": offer_set.pricing.grade,
                  "reasons": [r.code for r in offer_set.reasons]},
        )
    return rows


def offer_choose(*, application: Application, offer: Offer, by) -> Offer:
    """The customer (or a loan officer for them, on the phone) chooses one of the application's offers.

    Only while the application is scored or in review. Choosing another offer replaces the
    choice; choosing the chosen one again changes nothing. Audited with who chose what.
    """
    with transaction.atomic():
        application = Application.objects.select_for_update().get(pk=application.pk)
        if by is None or not (by.pk == application.customer_id or by.has_role(*CHOOSE_ON_BEHALF_ROLES)):
            raise PermissionDenied
        if offer.application_id != application.pk:
            raise DomainError(_("This offer belongs to another application."), field="offer")
        if application.state not in CHOOSE_STATES:
            raise DomainError(_("An offer can only be chosen while the application is scored or in review; "
                                "it is %(state)s.") % {"state": application.get_state_display()}, field="state")
        if selectors.application_declined_by_policy(application):
            raise DomainError(_("This application did not pass our lending rules, so no plan can be chosen."),
                              field="state")
        offers = list(Offer.objects.select_for_update().filter(application=application).order_by("pk"))
        target = next((o for o in offers if o.pk == offer.pk), None)
        if target is None:
            raise DomainError(_("This offer is no longer available."), field="offer")
        previous = next((o for o in offers if o.chosen_at is not None), None)
        if previous is not None and previous.pk == target.pk:
            return target
        if previous is not None:
            previous.chosen_at, previous.chosen_by = None, None
            previous.save(update_fields=["chosen_at", "chosen_by"])
        target.chosen_at, target.chosen_by = timezone.now(), by
        target.save(update_fields=["chosen_at", "chosen_by"])
        audit_record(
            actor=by, action="offer.choose", target=application,
            reason="chosen by customer" if by.pk == application.customer_id else "chosen by officer for the customer",
            data={"offer": target.pk, "rank": target.rank, "method": target.method, "term_months": target.term_months,
                  "previous_offer": previous.pk if previous else None},
        )
    return target


def credit_policy_check(
    *,
    name: str,
    effective_from: date,
    product: LoanProduct | None = None,
    rate_adjustment: Decimal = Decimal(0),
    max_amount_factor: Decimal = Decimal(1),
    max_term_months: int | None = None,
    cutoff_grade: str = "G",
    reason: str = "",
    exclude_pk: int | None = None,
) -> None:
    """The rules a new (or not yet effective) stance must keep; raises DomainError naming the field."""
    if not (name or "").strip():
        raise DomainError(_("Give the policy a name."), field="name")
    if effective_from is None or effective_from < timezone.localdate():
        raise DomainError(_("A policy cannot start in the past; choose today or a later date."),
                          field="effective_from")
    if rate_adjustment is None or abs(rate_adjustment) > MAX_POLICY_RATE_ADJUSTMENT:
        raise DomainError(_("The adjustment must be within ±%(limit)s percentage points.")
                          % {"limit": MAX_POLICY_RATE_ADJUSTMENT}, field="rate_adjustment")
    if max_amount_factor is None or not Decimal(0) < max_amount_factor <= MAX_POLICY_AMOUNT_FACTOR:
        raise DomainError(_("The limit factor must be above 0 and at most %(limit)s.")
                          % {"limit": MAX_POLICY_AMOUNT_FACTOR}, field="max_amount_factor")
    if max_term_months is not None and max_term_months < 1:
        raise DomainError(_("The longest term must be at least one month."), field="max_term_months")
    if cutoff_grade not in tuple(GRADES):
        raise DomainError(_("Choose a grade from A to G."), field="cutoff_grade")
    clash = CreditPolicy.objects.filter(product=product, effective_from=effective_from).exclude(pk=exclude_pk)
    if clash.exists():
        raise DomainError(_("A policy for these products already starts on that date; choose another date."),
                          field="effective_from")


def credit_policy_create(*, by, **fields) -> CreditPolicy:
    """An approver sets a new credit stance from `effective_from` (today or later: a stance in
    force is never rewritten, a new one supersedes it). Fields as `credit_policy_check`. Audited."""
    if by is None or not by.has_role(*POLICY_ROLES):
        raise PermissionDenied
    with transaction.atomic():
        credit_policy_check(**fields)
        fields["name"] = fields["name"].strip()
        policy = CreditPolicy.objects.create(created_by=by, **fields)
        audit_record(actor=by, action="credit_policy.create", target=policy, reason=policy.reason, data={
            "product": policy.product.code if policy.product else None,
            "effective_from": policy.effective_from.isoformat(), "rate_adjustment": str(policy.rate_adjustment),
            "max_amount_factor": str(policy.max_amount_factor), "max_term_months": policy.max_term_months,
            "cutoff_grade": policy.cutoff_grade,
        })
    return policy


def credit_policy_update(*, policy: CreditPolicy, by, **fields) -> CreditPolicy:
    """Change a stance that is not in force yet (its effective date is still ahead). Audited."""
    if by is None or not by.has_role(*POLICY_ROLES):
        raise PermissionDenied
    with transaction.atomic():
        policy = CreditPolicy.objects.select_for_update().get(pk=policy.pk)
        if policy.effective_from <= timezone.localdate():
            raise DomainError(_("This policy is already in force; set a new one instead."), field="effective_from")
        current = {key: getattr(policy, key) for key in fields}
        credit_policy_check(**{**{f: getattr(policy, f) for f in CREDIT_POLICY_FIELDS}, **fields},
                            exclude_pk=policy.pk)
        for key, value in fields.items():
            setattr(policy, key, value)
        policy.save()
        audit_record(actor=by, action="credit_policy.update", target=policy, data={
            key: [str(current[key]), str(value)] for key, value in fields.items() if current[key] != value})
    return policy


# The public calculator compares up to three plan types, each with the engine's standard shape.
CALCULATOR_MAX_METHODS = 3
CALCULATOR_BALLOON_SHARE = Decimal("0.3")
CALCULATOR_SEASONAL_FACTOR = Decimal("0.5")
DEFAULT_SEASONAL_MONTHS = frozenset({1, 2})


def calculator_compare(
    *,
    product: LoanProduct,
    amount: Decimal,
    term_months: int,
    methods: list[str],
    annual_rate: Decimal | None = None,
    upfront_fee: Decimal | None = None,
    monthly_fee: Decimal | None = None,
    seasonal_months: frozenset[int] | None = None,
    disbursement_date: date | None = None,
) -> list[Schedule]:
    """The schedules of up to three plan types for the same request, side by side (stores nothing).

    Blank price inputs take the product's: the rate of tier C (`selectors.product_public_rate`),
    the upfront fee rate on the amount, the monthly fee. A zero-interest plan runs at 0 % with the
    product's promotion fee. Balloon plans leave 30 % of the amount to the end, combination 30 %;
    step-up plans pay 1.25 x from halfway; seasonal plans halve the installments in
    `seasonal_months` (default January and February). Every APR is checked against the product's
    cap. Raises DomainError naming the field (amount, term_months, methods, annual_rate, ...).
    """
    if not methods:
        raise DomainError(_("Choose at least one plan type."), field="methods")
    if len(methods) > CALCULATOR_MAX_METHODS:
        raise DomainError(_("Compare at most %(count)s plan types.") % {"count": CALCULATOR_MAX_METHODS},
                          field="methods")
    offered = product.methods()
    missing = [m for m in methods if m not in offered]
    if missing:
        raise DomainError(_("%(product)s does not offer: %(methods)s.")
                          % {"product": product.name, "methods": ", ".join(m.replace("_", " ") for m in missing)},
                          field="methods")
    if not product.min_amount <= amount <= product.max_amount:
        raise DomainError(_("Enter an amount from %(low)s to %(high)s %(currency)s.")
                          % {"low": f"{product.min_amount:,}", "high": f"{product.max_amount:,}",
                             "currency": product.currency},
                          field="amount")
    if not product.min_term_months <= term_months <= product.max_term_months:
        raise DomainError(_("Enter a term from %(low)s to %(high)s months.")
                          % {"low": product.min_term_months, "high": product.max_term_months},
                          field="term_months")
    if "zero_interest" in methods:
        if not product.promo_max_term_months:
            raise DomainError(_("%(product)s has no 0%% promotion.") % {"product": product.name}, field="methods")
        if term_months > product.promo_max_term_months:
            raise DomainError(_("The 0%% promotion runs for at most %(months)s months.")
                              % {"months": product.promo_max_term_months},
                              field="term_months")
    unit = Decimal(1).scaleb(-product.currency_decimals)
    rate = annual_rate if annual_rate is not None else (selectors.product_public_rate(product) or Decimal(0))
    fee = upfront_fee if upfront_fee is not None else (amount * product.upfront_fee_rate / 100).quantize(unit)
    monthly = monthly_fee if monthly_fee is not None else product.monthly_fee
    promo_fee = (amount * product.promo_monthly_fee_rate / 100).quantize(unit)
    common = {
        "amount": amount, "term_months": term_months, "disbursement_date": disbursement_date or timezone.localdate(),
        "upfront_fee": fee, "upfront_fee_financed": product.upfront_fee_financed,
        "currency_decimals": product.currency_decimals, "max_apr": product.max_apr,
    }
    schedules = []
    for method in methods:
        extra: dict = {"annual_interest_rate": rate, "monthly_fee": monthly}
        if method == "zero_interest":
            extra = {"annual_interest_rate": Decimal(0), "monthly_fee": monthly + promo_fee}
        elif method == "balloon":
            extra["balloon_amount"] = (amount * CALCULATOR_BALLOON_SHARE).quantize(unit)
        elif method == "combination":
            extra["lump_sum_share"] = CALCULATOR_BALLOON_SHARE
        elif method == "step_up":
            extra.update(step_count=2, step_ratio=Decimal("1.25"))
        elif method == "seasonal":
            extra.update(seasonal_months=seasonal_months or DEFAULT_SEASONAL_MONTHS,
                         seasonal_factor=CALCULATOR_SEASONAL_FACTOR)
        schedules.append(quote_build(method=method, **common, **extra))
    return schedules
