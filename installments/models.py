"""Loan products, price tiers and applications; offers, contracts and plans build on these."""

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from installments.engine.schedules import METHODS

MONEY = {"max_digits": 14, "decimal_places": 2}
RATE = {"max_digits": 7, "decimal_places": 4}  # percent, e.g. 12.5000
METHOD_CHOICES = [(m, m.replace("_", " ")) for m in METHODS]
GRADES = [(g, g) for g in "ABCDEFG"]


class LoanProduct(models.Model):
    """What a customer can borrow and on what terms; edited by admins, priced by grade."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    name_zh = models.CharField(_("name (Chinese)"), max_length=120, blank=True)
    description = models.TextField(_("description"), blank=True)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    currency_decimals = models.PositiveSmallIntegerField(_("currency decimals"), default=2)
    min_amount = models.DecimalField(_("minimum amount"), **MONEY, validators=[MinValueValidator(Decimal("0.01"))])
    max_amount = models.DecimalField(_("maximum amount"), **MONEY)
    min_term_months = models.PositiveSmallIntegerField(_("minimum term (months)"), default=3)
    max_term_months = models.PositiveSmallIntegerField(_("maximum term (months)"), default=36)
    allowed_methods = models.JSONField(_("allowed plan types"), default=list, blank=True,
                                       help_text=_("Plan types offered; empty means all."))
    upfront_fee_rate = models.DecimalField(_("upfront fee (% of amount)"), **RATE, default=Decimal("0"))
    upfront_fee_financed = models.BooleanField(_("upfront fee financed"), default=False,
                                               help_text=_("Added to the amount financed instead of deducted."))
    monthly_fee = models.DecimalField(_("monthly fee"), **MONEY, default=Decimal("0"))
    max_apr = models.DecimalField(_("legal maximum APR (%)"), **RATE, default=Decimal("24"))
    max_payment_to_income = models.DecimalField(_("maximum payment-to-income"), max_digits=5, decimal_places=4,
                                                default=Decimal("0.4000"))
    max_debt_service_ratio = models.DecimalField(_("maximum debt service ratio"), max_digits=5, decimal_places=4,
                                                 default=Decimal("0.6000"))
    early_payoff_rebate = models.BooleanField(_("early payoff refunds unearned interest"), default=True)
    early_payoff_fee_rate = models.DecimalField(_("early payoff fee (% of principal repaid)"), **RATE,
                                                default=Decimal("0"))
    early_payoff_discount_rate = models.DecimalField(
        _("early payoff discount (% of the remaining interest)"), **RATE, default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("A one-time prepayment offer: this share of the interest still charged in a payoff quote is "
                    "taken off when the plan is paid off early within the window below."))
    early_payoff_discount_months = models.PositiveSmallIntegerField(
        _("early payoff discount window (months from disbursement)"), default=0,
        help_text=_("The discount applies to payoffs within this many months of the disbursement; 0: any time."))
    promo_max_term_months = models.PositiveSmallIntegerField(
        _("0% promotion: longest term (months)"), default=0,
        help_text=_("Zero-interest plans are offered up to this term; 0 means no promotion."))
    promo_monthly_fee_rate = models.DecimalField(
        _("0% promotion: monthly fee (% of amount)"), **RATE, default=Decimal("0"),
        help_text=_("Charged each month on zero-interest plans, on top of the monthly fee; shown in the APR."))
    late_fee_flat = models.DecimalField(_("late fee per overdue installment"), **MONEY, default=Decimal("0"))
    penalty_rate = models.DecimalField(_("penalty interest (% a year on overdue principal)"), **RATE,
                                       default=Decimal("0"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("loan product")
        verbose_name_plural = _("loan products")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(max_amount__gte=models.F("min_amount")), name="product_amount_range"),
            models.CheckConstraint(condition=Q(max_term_months__gte=models.F("min_term_months")),
                                   name="product_term_range"),
            models.CheckConstraint(condition=Q(max_apr__gt=0) & Q(max_apr__lte=100), name="product_apr_cap_range"),
            models.CheckConstraint(condition=Q(early_payoff_discount_rate__gte=0)
                                   & Q(early_payoff_discount_rate__lte=100), name="product_payoff_discount_range"),
        ]

    def __str__(self) -> str:
        return self.name

    def methods(self) -> list[str]:
        return list(self.allowed_methods) or list(METHODS)


class PriceTier(models.Model):
    """The nominal annual rate, limit and longest term for one risk grade of a product."""

    product = models.ForeignKey(LoanProduct, on_delete=models.CASCADE, related_name="price_tiers")
    grade = models.CharField(_("risk grade"), max_length=1, choices=GRADES)
    annual_rate = models.DecimalField(_("annual interest rate (%)"), **RATE)
    max_amount = models.DecimalField(_("maximum amount for the grade"), **MONEY)
    max_term_months = models.PositiveSmallIntegerField(_("longest term for the grade"))

    class Meta:
        verbose_name = _("price tier")
        verbose_name_plural = _("price tiers")
        ordering = ["product", "grade"]
        constraints = [
            models.UniqueConstraint(fields=["product", "grade"], name="one_tier_per_grade"),
            models.CheckConstraint(condition=Q(annual_rate__gte=0), name="tier_rate_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.product.code} {self.grade}: {self.annual_rate}%"


class CreditPolicy(models.Model):
    """The approvers' credit stance from a date on: prices, limits, terms and the cut-off grade.

    The policy in force for a product on a date is the latest one effective on or before that
    date among those naming the product; without one, the latest among those for all products.
    Policies are added, never rewritten once in force (a new stance is a new row).
    """

    name = models.CharField(_("name"), max_length=120)
    product = models.ForeignKey(LoanProduct, on_delete=models.CASCADE, null=True, blank=True,
                                related_name="credit_policies", verbose_name=_("product"),
                                help_text=_("Empty: every product without a policy of its own."))
    effective_from = models.DateField(_("effective from"), db_index=True)
    rate_adjustment = models.DecimalField(
        _("rate adjustment (percentage points)"), max_digits=6, decimal_places=4, default=Decimal("0"),
        help_text=_("Added to every price tier's rate; negative to loosen, positive to tighten."))
    max_amount_factor = models.DecimalField(
        _("limit factor"), max_digits=5, decimal_places=4, default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text=_("Every tier's maximum amount is multiplied by this (0.8 = 20 % lower limits)."))
    max_term_months = models.PositiveSmallIntegerField(_("longest term (months)"), null=True, blank=True,
                                                       help_text=_("Empty: the product's and tier's terms apply."))
    cutoff_grade = models.CharField(_("worst grade offered"), max_length=1, choices=GRADES, default="G",
                                    help_text=_("Applicants graded below this get no offers."))
    reason = models.TextField(_("why"), blank=True, help_text=_("The market or portfolio reason for this stance."))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("set by"))
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("credit policy")
        verbose_name_plural = _("credit policies")
        ordering = ["-effective_from", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "effective_from"], name="credit_policy_one_per_product_day"),
            models.UniqueConstraint(fields=["effective_from"], condition=Q(product__isnull=True),
                                    name="credit_policy_one_global_per_day"),
            models.CheckConstraint(condition=Q(max_amount_factor__gt=0), name="credit_policy_factor_positive"),
            models.CheckConstraint(condition=Q(max_term_months__isnull=True) | Q(max_term_months__gt=0),
                                   name="credit_policy_term_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.effective_from})"


class Application(models.Model):
    """A customer's request to borrow; its `state` moves only along `TRANSITIONS`."""

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted, awaiting score")
        SCORED = "scored", _("Scored")
        IN_REVIEW = "in_review", _("In review")
        DOCUMENTS_REQUESTED = "documents_requested", _("More documents requested")
        AWAITING_APPROVAL = "awaiting_approval", _("Awaiting second approval")
        APPROVED = "approved", _("Approved")
        DECLINED = "declined", _("Declined")
        CONTRACTED = "contracted", _("Contract accepted")
        ACTIVE = "active", _("Active plan")
        CLOSED = "closed", _("Closed")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        EXPIRED = "expired", _("Expired")

    TRANSITIONS: dict[str, set[str]] = {
        State.DRAFT: {State.SUBMITTED, State.WITHDRAWN},
        State.SUBMITTED: {State.SCORED, State.DECLINED, State.WITHDRAWN},
        State.SCORED: {State.IN_REVIEW, State.DECLINED, State.WITHDRAWN, State.SUBMITTED},
        State.IN_REVIEW: {State.DOCUMENTS_REQUESTED, State.AWAITING_APPROVAL, State.APPROVED, State.DECLINED,
                          State.WITHDRAWN},
        State.DOCUMENTS_REQUESTED: {State.IN_REVIEW, State.WITHDRAWN, State.EXPIRED},
        State.AWAITING_APPROVAL: {State.APPROVED, State.DECLINED, State.IN_REVIEW},
        State.APPROVED: {State.CONTRACTED, State.WITHDRAWN, State.EXPIRED},
        State.CONTRACTED: {State.ACTIVE, State.WITHDRAWN},
        State.ACTIVE: {State.CLOSED},
        State.DECLINED: set(),
        State.CLOSED: {State.ACTIVE},  # its plan reopened: the payment that paid it off was reversed
        State.WITHDRAWN: set(),
        State.EXPIRED: set(),
    }
    OPEN_STATES = (State.SUBMITTED, State.SCORED, State.IN_REVIEW, State.DOCUMENTS_REQUESTED, State.AWAITING_APPROVAL)

    class Purpose(models.TextChoices):
        CAR = "car", _("Car")
        FURNITURE = "furniture", _("Furniture")
        APPLIANCES = "appliances", _("Appliances and electronics")
        EDUCATION = "education", _("Education")
        BUSINESS = "business", _("Business")
        MEDICAL = "medical", _("Medical")
        TRAVEL = "travel", _("Travel")
        RENOVATION = "renovation", _("Home renovation")
        OTHER = "other", _("Other")

    class IncomePattern(models.TextChoices):
        REGULAR = "regular", _("Regular every month")
        SEASONAL = "seasonal", _("Seasonal (some months lower)")
        IRREGULAR = "irregular", _("Irregular")

    number = models.CharField(_("application number"), max_length=20, unique=True, editable=False)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="applications")
    product = models.ForeignKey(LoanProduct, on_delete=models.PROTECT, related_name="applications")
    amount = models.DecimalField(_("amount requested"), **MONEY)
    term_months = models.PositiveSmallIntegerField(_("term (months)"), null=True, blank=True)
    purpose = models.CharField(_("purpose"), max_length=20, choices=Purpose.choices, default=Purpose.OTHER)
    preferred_method = models.CharField(_("preferred plan type"), max_length=20, choices=METHOD_CHOICES, blank=True)
    target_monthly_payment = models.DecimalField(_("target monthly payment"), **MONEY, null=True, blank=True)
    income_pattern = models.CharField(_("income pattern"), max_length=12, choices=IncomePattern.choices,
                                      default=IncomePattern.REGULAR)
    low_income_months = models.JSONField(_("months with lower income"), default=list, blank=True)
    state = models.CharField(_("state"), max_length=24, choices=State.choices, default=State.DRAFT, db_index=True)
    assigned_officer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="assigned_applications")
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True, db_index=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    offer_summary = models.JSONField(
        _("offer summary"), default=dict, blank=True, editable=False,
        help_text=_("The last offer run: grade and price used, notes, and why nothing was affordable if so."))

    class Meta:
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="application_amount_positive"),
            models.CheckConstraint(condition=Q(term_months__isnull=True) | Q(term_months__gt=0),
                                   name="application_term_positive"),
        ]
        indexes = [models.Index(fields=["state", "submitted_at"])]

    def __str__(self) -> str:
        return self.number or f"application #{self.pk}"

    def save(self, *args, **kwargs):
        if not self.number:
            # Unique and unguessable enough to say on the phone: APP-2026-7F3K9Q.
            alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
            self.number = f"APP-{timezone.localdate():%Y}-" + "".join(secrets.choice(alphabet) for _ in range(6))
        super().save(*args, **kwargs)


class Offer(models.Model):
    """One personalised plan shown to the customer, with its full disclosure frozen as shown."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="offers")
    rank = models.PositiveSmallIntegerField(_("rank"), default=0)
    method = models.CharField(_("plan type"), max_length=20, choices=METHOD_CHOICES)
    amount = models.DecimalField(_("amount financed"), **MONEY)
    term_months = models.PositiveSmallIntegerField(_("term (months)"))
    annual_rate = models.DecimalField(_("annual interest rate (%)"), **RATE)
    installment = models.DecimalField(_("typical installment"), **MONEY)
    total_interest = models.DecimalField(_("total interest"), **MONEY)
    total_fees = models.DecimalField(_("total fees"), **MONEY)
    total_payable = models.DecimalField(_("total payable"), **MONEY)
    apr = models.DecimalField(_("APR (%)"), **RATE)
    effective_annual_rate = models.DecimalField(_("effective annual rate (%)"), **RATE)
    terms = models.JSONField(_("plan terms"), default=dict, help_text=_("Inputs of the schedule engine."))
    schedule = models.JSONField(_("schedule"), default=list)
    labels = models.JSONField(_("labels"), default=list, blank=True)
    explanation_en = models.TextField(_("explanation (English)"), blank=True)
    explanation_zh = models.TextField(_("explanation (Chinese)"), blank=True)
    is_counter_offer = models.BooleanField(_("counter-offer"), default=False)
    chosen_at = models.DateTimeField(_("chosen"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    grade = models.CharField(_("price tier used"), max_length=1, choices=GRADES, blank=True)
    highest_installment = models.DecimalField(_("highest regular installment"), **MONEY, null=True, blank=True)
    credit_policy = models.ForeignKey(CreditPolicy, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="offers", verbose_name=_("credit policy applied"))
    chosen_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+", verbose_name=_("chosen by"))

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        ordering = ["application", "rank", "id"]
        constraints = [
            models.UniqueConstraint(fields=["application"], condition=Q(chosen_at__isnull=False),
                                    name="one_chosen_offer_per_application"),
        ]

    def __str__(self) -> str:
        return f"{self.application} #{self.rank} {self.method} {self.term_months}m"


class Contract(models.Model):
    """A versioned contract generated from the approved offer; accepted by the customer."""

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="contracts")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="contracts")
    version = models.PositiveSmallIntegerField(_("version"), default=1)
    language = models.CharField(_("language"), max_length=10, default="en")
    content_html = models.TextField(_("contract text (HTML)"))
    content_sha256 = models.CharField(_("fingerprint"), max_length=64)
    disclosure = models.JSONField(_("disclosure"), default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    accepted_ip = models.GenericIPAddressField(_("accepted from"), null=True, blank=True)

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        ordering = ["application", "-version"]
        constraints = [models.UniqueConstraint(fields=["application", "version"], name="contract_version_unique")]

    def __str__(self) -> str:
        return f"{self.application} v{self.version}"


class Plan(models.Model):
    """An active installment plan: the serviced loan. Its schedule lives in versions."""

    class State(models.TextChoices):
        ACTIVE = "active", _("Active")
        OVERDUE = "overdue", _("Overdue")
        RESTRUCTURED = "restructured", _("Restructured")
        PAID_OFF = "paid_off", _("Paid off")
        WRITTEN_OFF = "written_off", _("Written off")
        IN_LEGAL = "in_legal", _("In legal action")

    TRANSITIONS: dict[str, set[str]] = {
        State.ACTIVE: {State.OVERDUE, State.RESTRUCTURED, State.PAID_OFF},
        State.OVERDUE: {State.ACTIVE, State.RESTRUCTURED, State.PAID_OFF, State.WRITTEN_OFF, State.IN_LEGAL},
        State.RESTRUCTURED: {State.ACTIVE, State.OVERDUE, State.PAID_OFF, State.WRITTEN_OFF, State.IN_LEGAL},
        State.IN_LEGAL: {State.PAID_OFF, State.WRITTEN_OFF, State.RESTRUCTURED},
        # A payment reversed after payoff (a bounced transfer) reopens the plan.
        State.PAID_OFF: {State.ACTIVE},
        # Recoveries are posted on a written-off plan without changing its state.
        State.WRITTEN_OFF: set(),
    }
    LIVE_STATES = (State.ACTIVE, State.OVERDUE, State.RESTRUCTURED, State.IN_LEGAL)

    number = models.CharField(_("plan number"), max_length=20, unique=True)
    application = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="plan")
    contract = models.OneToOneField(Contract, on_delete=models.PROTECT, related_name="plan")
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="plans")
    product = models.ForeignKey(LoanProduct, on_delete=models.PROTECT, related_name="plans")
    currency = models.CharField(max_length=3, default="CNY")
    method = models.CharField(_("plan type"), max_length=20, choices=METHOD_CHOICES)
    principal = models.DecimalField(_("amount financed"), **MONEY)
    annual_rate = models.DecimalField(_("annual interest rate (%)"), **RATE)
    disbursement_date = models.DateField(_("disbursed on"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.ACTIVE, db_index=True)
    current_version = models.PositiveSmallIntegerField(_("schedule version"), default=1)
    days_past_due = models.PositiveIntegerField(_("days past due"), default=0, db_index=True)
    bucket = models.CharField(_("bucket"), max_length=16, default="current", db_index=True)
    credit_balance = models.DecimalField(_("credit balance"), **MONEY, default=Decimal("0"))
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(principal__gt=0), name="plan_principal_positive"),
            models.CheckConstraint(condition=Q(credit_balance__gte=0), name="plan_credit_non_negative"),
        ]

    def __str__(self) -> str:
        return self.number


class ScheduleVersion(models.Model):
    """One version of a plan's schedule; prepayment, holiday and restructuring add a version."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="schedule_versions")
    version = models.PositiveSmallIntegerField(_("version"))
    reason = models.CharField(_("why"), max_length=200)
    terms = models.JSONField(_("plan terms"), default=dict)
    disclosure = models.JSONField(_("disclosure"), default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("schedule version")
        verbose_name_plural = _("schedule versions")
        ordering = ["plan", "version"]
        constraints = [models.UniqueConstraint(fields=["plan", "version"], name="schedule_version_unique")]

    def __str__(self) -> str:
        return f"{self.plan} v{self.version}"


class Installment(models.Model):
    """One due installment of one schedule version; amounts due and paid kept separately."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Not yet due")
        DUE = "due", _("Due")
        OVERDUE = "overdue", _("Overdue")
        PAID = "paid", _("Paid")
        SUPERSEDED = "superseded", _("Superseded by a new schedule")

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="installments")
    version = models.ForeignKey(ScheduleVersion, on_delete=models.CASCADE, related_name="installments")
    number = models.PositiveSmallIntegerField(_("number"))
    due_date = models.DateField(_("due date"), db_index=True)
    principal_due = models.DecimalField(_("principal"), **MONEY)
    interest_due = models.DecimalField(_("interest"), **MONEY)
    fee_due = models.DecimalField(_("fee"), **MONEY, default=Decimal("0"))
    penalty_due = models.DecimalField(_("late charges"), **MONEY, default=Decimal("0"))
    principal_paid = models.DecimalField(**MONEY, default=Decimal("0"))
    interest_paid = models.DecimalField(**MONEY, default=Decimal("0"))
    fee_paid = models.DecimalField(**MONEY, default=Decimal("0"))
    penalty_paid = models.DecimalField(**MONEY, default=Decimal("0"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING,
                              db_index=True)
    days_past_due = models.PositiveIntegerField(_("days past due"), default=0)
    paid_at = models.DateTimeField(_("paid in full (booked)"), null=True, blank=True)
    paid_on = models.DateField(_("paid in full (value date)"), null=True, blank=True,
                               help_text=_("When the money that paid it off was received; lateness counts from this."))

    class Meta:
        verbose_name = _("installment")
        verbose_name_plural = _("installments")
        ordering = ["plan", "version", "number"]
        constraints = [
            models.UniqueConstraint(fields=["version", "number"], name="installment_number_unique"),
            models.CheckConstraint(
                condition=Q(principal_paid__lte=models.F("principal_due")) & Q(interest_paid__lte=models.F("interest_due"))
                & Q(fee_paid__lte=models.F("fee_due")) & Q(penalty_paid__lte=models.F("penalty_due")),
                name="installment_not_overpaid",
            ),
        ]
        indexes = [models.Index(fields=["status", "due_date"])]

    def __str__(self) -> str:
        return f"{self.plan} #{self.number} {self.due_date}"

    @property
    def amount_due(self) -> Decimal:
        return self.principal_due + self.interest_due + self.fee_due + self.penalty_due

    @property
    def amount_paid(self) -> Decimal:
        return self.principal_paid + self.interest_paid + self.fee_paid + self.penalty_paid

    @property
    def amount_outstanding(self) -> Decimal:
        return self.amount_due - self.amount_paid


# --- The staff workbench: four-eyes policy, document requests and officers' decisions -------------

class DecisionPolicy(models.Model):
    """When an officer's approval needs a second person, how long a review may take and how far a
    counter-offer may go below the priced rate, from a date on (edited in the admin).

    The policy in force is the latest one effective on or before the day; without any, an unsaved
    row with the defaults below applies. A new stance is a new row.
    """

    four_eyes_amount = models.DecimalField(
        _("second approval above (amount financed)"), **MONEY, default=Decimal("50000"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Approvals and counter-offers of a larger amount need an approver's confirmation."))
    review_sla_hours = models.PositiveSmallIntegerField(
        _("review time limit (hours)"), default=48,
        help_text=_("Applications waiting for staff longer than this since submission are shown as overdue."))
    max_rate_discount = models.DecimalField(
        _("largest counter-offer rate discount (percentage points)"), **RATE, default=Decimal("2"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("How far below the price tier's rate an officer may go in a counter-offer."))
    effective_from = models.DateField(_("effective from"), unique=True)
    reason = models.TextField(_("why"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("set by"))
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("decision policy")
        verbose_name_plural = _("decision policies")
        ordering = ["-effective_from", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(four_eyes_amount__gte=0), name="decision_policy_amount_non_negative"),
            models.CheckConstraint(condition=Q(max_rate_discount__gte=0),
                                   name="decision_policy_discount_non_negative"),
            models.CheckConstraint(condition=Q(review_sla_hours__gt=0), name="decision_policy_sla_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.four_eyes_amount} / {self.review_sla_hours} h ({self.effective_from})"


class DocumentRequest(models.Model):
    """An officer asks the customer for more documents: a message and a checklist of document kinds
    (customers.DocumentKind values). Resolved when the officer resumes the review, or by the
    decision taken while it was open (`closed_by_decision`), whether or not the documents came."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="document_requests",
                                    verbose_name=_("application"))
    message = models.TextField(_("message to the customer"))
    kinds = models.JSONField(_("documents requested"), default=list)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                     related_name="+", verbose_name=_("requested by"))
    requested_at = models.DateTimeField(_("requested"), default=timezone.now)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", verbose_name=_("resolved by"))
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_by_decision = models.ForeignKey("Decision", null=True, blank=True, on_delete=models.SET_NULL,
                                           related_name="closed_document_requests",
                                           verbose_name=_("closed by the decision"))

    class Meta:
        verbose_name = _("document request")
        verbose_name_plural = _("document requests")
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"{self.application} {self.requested_at:%Y-%m-%d}"


class Decision(models.Model):
    """An officer's decision on an application and, under four-eyes, the approver's confirmation.

    `recommendation` is the model's (approve / decline / refer) at the time; deciding against it is
    an override and carries its written reason. The person who confirms is never the one who
    decided (a database constraint, besides the service's check).
    """

    class Kind(models.TextChoices):
        APPROVE = "approve", _("Approve the chosen offer")
        COUNTER_OFFER = "counter_offer", _("Approve with changes (counter-offer)")
        DECLINE = "decline", _("Decline")

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting second approval")
        FINAL = "final", _("In effect")
        CONFIRMED = "confirmed", _("Confirmed by a second approver")
        RETURNED = "returned", _("Returned to review by the second approver")

    class Recommendation(models.TextChoices):
        APPROVE = "approve", _("Approve")
        DECLINE = "decline", _("Decline")
        REFER = "refer", _("Refer to the officer's judgement")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="decisions",
                                    verbose_name=_("application"))
    kind = models.CharField(_("decision"), max_length=16, choices=Kind.choices)
    offer = models.ForeignKey(Offer, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions",
                              verbose_name=_("offer"))
    recommendation = models.CharField(_("model recommendation"), max_length=8, choices=Recommendation.choices)
    is_override = models.BooleanField(_("overrides the recommendation"), default=False)
    override_reason = models.TextField(_("override reason"), blank=True)
    reason_codes = models.JSONField(_("reason codes"), default=list, blank=True)
    note = models.TextField(_("note"), blank=True)
    four_eyes_reasons = models.JSONField(_("why a second approval is needed"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, db_index=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided"), default=timezone.now, db_index=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", verbose_name=_("second approver"))
    confirmed_at = models.DateTimeField(_("second approval"), null=True, blank=True)
    confirmation_note = models.TextField(_("second approver's note"), blank=True)
    decision_policy = models.ForeignKey(DecisionPolicy, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+", verbose_name=_("decision policy applied"))

    class Meta:
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")
        ordering = ["-decided_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(is_override=False) | ~Q(override_reason=""),
                                   name="decision_override_has_reason"),
            models.CheckConstraint(condition=Q(confirmed_by__isnull=True) | ~Q(confirmed_by=models.F("decided_by")),
                                   name="decision_four_eyes_two_people"),
            models.UniqueConstraint(fields=["application"], condition=Q(status="pending"),
                                    name="decision_one_pending_per_application"),
        ]

    def __str__(self) -> str:
        return f"{self.application} {self.kind} ({self.status})"


# --- Management analytics: summary tables and product experiments ----------------------------------

class SummaryRange(models.TextChoices):
    """The date ranges the dashboard's summaries are computed for (ending today)."""

    LAST_30_DAYS = "30d", _("Last 30 days")
    LAST_90_DAYS = "90d", _("Last 90 days")
    LAST_12_MONTHS = "12m", _("Last 12 months")
    YEAR_TO_DATE = "ytd", _("Year to date")
    ALL_TIME = "all", _("Since the start")


class SegmentDimension(models.TextChoices):
    AGE_BAND = "age_band", _("Age band")
    OCCUPATION = "occupation", _("Occupation")
    EMPLOYMENT_TYPE = "employment_type", _("Employment type")
    PURPOSE = "purpose", _("Purpose")
    METHOD = "method", _("Plan type")
    GRADE = "grade", _("Risk grade")
    INCOME_PATTERN = "income_pattern", _("Income pattern")


class KpiSnapshot(models.Model):
    """The dashboard's figures for one date range and one product (empty: all products).

    Written only by `dashboard_services.summaries_refresh` (beat job, "refresh now", command); the
    dashboard reads these rows and never aggregates the book itself. `payload` holds KPI tiles,
    time series, the bucket distribution, roll rates, vintages and satisfaction (money as strings).
    """

    range_kind = models.CharField(_("date range"), max_length=4, choices=SummaryRange.choices)
    product = models.ForeignKey(LoanProduct, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                                verbose_name=_("product"))
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to"))
    computed_at = models.DateTimeField(_("computed"), default=timezone.now)
    duration_ms = models.PositiveIntegerField(_("refresh time (ms)"), default=0)
    payload = models.JSONField(_("figures"), default=dict)

    class Meta:
        verbose_name = _("KPI snapshot")
        verbose_name_plural = _("KPI snapshots")
        ordering = ["range_kind", "product_id"]
        constraints = [
            models.UniqueConstraint(fields=["range_kind", "product"], name="kpi_snapshot_one_per_range_product"),
            models.UniqueConstraint(fields=["range_kind"], condition=Q(product__isnull=True),
                                    name="kpi_snapshot_one_per_range_all_products"),
        ]

    def __str__(self) -> str:
        return f"{self.range_kind} {self.product or 'all'} {self.computed_at:%Y-%m-%d %H:%M}"


class SegmentSummary(models.Model):
    """Bad and overdue rates per segment of one dimension, for one date range and product (empty: all).

    `payload` = {"book": {...}, "rows": [...]} from `analytics.segment_table`; written by the refresh.
    """

    range_kind = models.CharField(_("date range"), max_length=4, choices=SummaryRange.choices)
    product = models.ForeignKey(LoanProduct, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                                verbose_name=_("product"))
    dimension = models.CharField(_("dimension"), max_length=20, choices=SegmentDimension.choices)
    computed_at = models.DateTimeField(_("computed"), default=timezone.now)
    payload = models.JSONField(_("figures"), default=dict)

    class Meta:
        verbose_name = _("segment summary")
        verbose_name_plural = _("segment summaries")
        ordering = ["range_kind", "product_id", "dimension"]
        constraints = [
            models.UniqueConstraint(fields=["range_kind", "product", "dimension"],
                                    name="segment_summary_one_per_key"),
            models.UniqueConstraint(fields=["range_kind", "dimension"], condition=Q(product__isnull=True),
                                    name="segment_summary_one_per_key_all_products"),
        ]

    def __str__(self) -> str:
        return f"{self.range_kind} {self.product or 'all'} {self.dimension}"


class Experiment(models.Model):
    """A product variant tried on part of a product's new applicants (see `installments.analytics.experiments`).

    While running, each customer whose offers are made for the product is assigned to an arm by a
    stable hash with `ratio` the variant's share; the variant's offers are priced with
    `rate_adjustment` more percentage points and, when the customer stated no term, prefer
    `default_term_months`. One running experiment per product. Experiments are stopped, never
    deleted; every state change is in the audit trail.
    """

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        RUNNING = "running", _("Running")
        STOPPED = "stopped", _("Stopped")

    TRANSITIONS: dict[str, set[str]] = {
        State.DRAFT: {State.RUNNING, State.STOPPED},
        State.RUNNING: {State.STOPPED},
        State.STOPPED: set(),
    }

    key = models.SlugField(_("key"), max_length=50, unique=True,
                           help_text=_("Fixed once created: the assignment hash uses it."))
    name = models.CharField(_("name"), max_length=120)
    hypothesis = models.TextField(_("hypothesis"), blank=True)
    product = models.ForeignKey(LoanProduct, on_delete=models.PROTECT, related_name="experiments",
                                verbose_name=_("product"))
    rate_adjustment = models.DecimalField(
        _("variant rate adjustment (percentage points)"), max_digits=6, decimal_places=4, default=Decimal("0"),
        help_text=_("Added to the price tier's rate for customers in the variant; negative for a lower price."))
    default_term_months = models.PositiveSmallIntegerField(
        _("variant default term (months)"), null=True, blank=True,
        help_text=_("Offered as the preferred term to variant customers who did not choose one."))
    ratio = models.DecimalField(_("share in the variant"), max_digits=5, decimal_places=4, default=Decimal("0.5"),
                                help_text=_("0.5 = half the customers get the variant."))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.DRAFT, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("defined by"))
    created_at = models.DateTimeField(_("defined"), default=timezone.now)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("started by"))
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    stopped_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("stopped by"))
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)
    stop_reason = models.TextField(_("why stopped"), blank=True)

    class Meta:
        verbose_name = _("experiment")
        verbose_name_plural = _("experiments")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["product"], condition=Q(state="running"),
                                    name="experiment_one_running_per_product"),
            models.CheckConstraint(condition=Q(ratio__gt=0) & Q(ratio__lt=1), name="experiment_ratio_between_0_and_1"),
            models.CheckConstraint(condition=~Q(rate_adjustment=0) | Q(default_term_months__isnull=False),
                                   name="experiment_variant_changes_something"),
            models.CheckConstraint(condition=Q(default_term_months__isnull=True) | Q(default_term_months__gt=0),
                                   name="experiment_default_term_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class ExperimentAssignment(models.Model):
    """Which arm of an experiment a customer is in; made the first time their offers are made."""

    class Arm(models.TextChoices):
        CONTROL = "control", _("Control")
        VARIANT = "variant", _("Variant")

    experiment = models.ForeignKey(Experiment, on_delete=models.PROTECT, related_name="assignments",
                                   verbose_name=_("experiment"))
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="experiment_assignments", verbose_name=_("customer"))
    arm = models.CharField(_("arm"), max_length=8, choices=Arm.choices)
    application = models.ForeignKey(Application, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("first application"))
    assigned_at = models.DateTimeField(_("assigned"), default=timezone.now)

    class Meta:
        verbose_name = _("experiment assignment")
        verbose_name_plural = _("experiment assignments")
        ordering = ["experiment", "assigned_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "customer"], name="experiment_assignment_once_per_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.experiment.key}: {self.customer} -> {self.arm}"


class ApplicationNotice(models.Model):
    """A message to the customer about their application (documents needed, approved, approved with
    changes, declined) or a receipt for a payment on its plan, written in their language and sent once by e-mail through a Celery worker
    (queue `notifications`). `key` makes each event's message unique: a retried decision or a
    redelivered task never e-mails twice."""

    class Kind(models.TextChoices):
        DOCUMENTS_REQUESTED = "documents_requested", _("More documents needed")
        APPROVED = "approved", _("Approved")
        COUNTER_OFFER = "counter_offer", _("Approved with changes")
        DECLINED = "declined", _("Declined")
        PAYMENT_RECEIPT = "payment_receipt", _("Payment receipt")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Not sent")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="notices",
                                    verbose_name=_("application"))
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    key = models.CharField(_("event"), max_length=60, unique=True)
    language = models.CharField(_("language"), max_length=10)
    recipient = models.EmailField(_("to"), blank=True)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("message"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.TextField(_("last error"), blank=True)
    provider_message_id = models.CharField(_("provider reference"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("application notice")
        verbose_name_plural = _("application notices")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="notice_status_created")]

    def __str__(self) -> str:
        return f"{self.application.number}: {self.get_kind_display()} ({self.get_status_display()})"


from installments.merchants.models import Basket, BasketLine, Good, Merchant, MerchantUser  # noqa: E402, F401
