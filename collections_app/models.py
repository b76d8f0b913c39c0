"""Servicing and collections: payments and their allocation, the daily close of business, reminders,
collection cases with their contact log, promises and hardship measures.

Plans, schedule versions and installments belong to `installments`; this app only adds its own
tables beside them. Every amount is `DecimalField(14, 2)` in the plan's currency.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from installments.models import Installment, LoanProduct, Plan, ScheduleVersion

MONEY = {"max_digits": 14, "decimal_places": 2}
RATE = {"max_digits": 7, "decimal_places": 4}
ZERO = Decimal("0")


class Component(models.TextChoices):
    """The parts of an installment a payment pays, in the default allocation order."""

    PENALTY = "penalty", _("Late charges")
    FEE = "fee", _("Fees")
    INTEREST = "interest", _("Interest")
    PRINCIPAL = "principal", _("Principal")


DEFAULT_ALLOCATION_ORDER = [c.value for c in Component]


def default_allocation_order() -> list[str]:
    return list(DEFAULT_ALLOCATION_ORDER)


class ServicingPolicy(models.Model):
    """How a product is serviced. The row without a product is the default for every other product."""

    class AllocationMode(models.TextChoices):
        BY_INSTALLMENT = "by_installment", _("Oldest installment first, each in full in the component order")
        BY_COMPONENT = "by_component", _("Component order across installments, oldest first within a component")

    product = models.OneToOneField(LoanProduct, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="servicing_policy", verbose_name=_("product"),
                                   help_text=_("Empty: the default policy for products without their own."))
    allocation_order = models.JSONField(_("allocation order"), default=default_allocation_order,
                                        help_text=_("Components in the order a payment pays them."))
    allocation_mode = models.CharField(_("allocation mode"), max_length=16, choices=AllocationMode.choices,
                                       default=AllocationMode.BY_INSTALLMENT)
    late_fee_grace_days = models.PositiveSmallIntegerField(
        _("grace days"), default=0,
        help_text=_("Days past due before the late fee and penalty interest are charged (then from the due date)."))
    approval_threshold = models.DecimalField(
        _("hardship approval threshold"), **MONEY, default=Decimal("1000"),
        help_text=_("Hardship measures above this amount need an approver's confirmation (never the requester)."))
    money_approval_threshold = models.DecimalField(
        _("money approval threshold"), **MONEY, default=Decimal("500"),
        help_text=_("Payment reversals, back-dated postings and waivers of charges above this amount need a second "
                    "person's confirmation (never the requester)."))
    max_extension_days = models.PositiveSmallIntegerField(_("longest due-date extension (days)"), default=90)
    max_reinstallment_months = models.PositiveSmallIntegerField(_("longest re-installment (months)"), default=36)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("servicing policy")
        verbose_name_plural = _("servicing policies")
        constraints = [
            # One default row (product empty) and one row per product.
            models.UniqueConstraint(Coalesce("product", Value(0)), name="one_servicing_policy_per_product"),
            models.CheckConstraint(condition=Q(approval_threshold__gte=0), name="policy_threshold_non_negative"),
            models.CheckConstraint(condition=Q(money_approval_threshold__gte=0),
                                   name="policy_money_threshold_non_negative"),
        ]

    def __str__(self) -> str:
        return str(self.product) if self.product_id else str(_("Default servicing policy"))

    def clean(self):
        order = self.allocation_order
        if not isinstance(order, list) or sorted(order) != sorted(DEFAULT_ALLOCATION_ORDER):
            raise ValidationError({"allocation_order": _("List each of %(parts)s exactly once.")
                                   % {"parts": ", ".join(DEFAULT_ALLOCATION_ORDER)}})


class DelinquencyBucket(models.Model):
    """A days-past-due band; the close of business puts each plan in the band its DPD falls in."""

    class TermClass(models.TextChoices):
        CURRENT = "current", _("Current")
        SHORT = "short", _("Short-term overdue")
        MEDIUM = "medium", _("Medium-term overdue")
        LONG = "long", _("Long-term overdue")

    code = models.CharField(_("code"), max_length=16, unique=True)
    label = models.CharField(_("label"), max_length=60)
    label_zh = models.CharField(_("label (Chinese)"), max_length=60, blank=True)
    min_days = models.PositiveIntegerField(_("from days past due"))
    max_days = models.PositiveIntegerField(_("to days past due"), null=True, blank=True,
                                           help_text=_("Empty: no upper bound."))
    term_class = models.CharField(_("classification"), max_length=8, choices=TermClass.choices)

    class Meta:
        verbose_name = _("delinquency bucket")
        verbose_name_plural = _("delinquency buckets")
        ordering = ["min_days"]
        constraints = [
            models.UniqueConstraint(fields=["min_days"], name="bucket_min_days_unique"),
            models.CheckConstraint(condition=Q(max_days__isnull=True) | Q(max_days__gte=F("min_days")),
                                   name="bucket_range_valid"),
        ]

    def __str__(self) -> str:
        return self.label


class CobRun(models.Model):
    """One business day's close of business; a day is done once, in one transaction."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    business_date = models.DateField(_("business date"), unique=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.RUNNING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    counts = models.JSONField(_("rows changed"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    triggered_by = models.CharField(_("triggered by"), max_length=40, blank=True)
    reconciliation = models.JSONField(
        _("reconciliation"), default=dict, blank=True,
        help_text=_("The day's general ledger against the sub-ledger, account by account."))

    class Meta:
        verbose_name = _("close-of-business run")
        verbose_name_plural = _("close-of-business runs")
        ordering = ["-business_date"]

    def __str__(self) -> str:
        return f"COB {self.business_date} {self.status}"


class InstallmentCharge(models.Model):
    """The late-charge ledger of one overdue installment, kept by the close of business.

    Rates are taken from the product when the installment first falls overdue. `penalty_interest`
    keeps 6 decimals so daily accrual does not lose cents; the installment's `penalty_due` is the
    rounded, capped total (see `collections_app.collections.cob`). `accrued_through` makes accrual idempotent.
    """

    installment = models.OneToOneField(Installment, primary_key=True, on_delete=models.CASCADE,
                                       related_name="late_charges")
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+", db_index=True)
    late_fee_amount = models.DecimalField(_("late fee"), **MONEY)
    penalty_rate = models.DecimalField(_("penalty rate (% a year)"), **RATE)
    cap_rate = models.DecimalField(_("charges cap (% a year)"), **RATE)
    grace_days = models.PositiveSmallIntegerField(_("grace days"), default=0)
    late_fee_charged = models.DecimalField(_("late fee charged"), **MONEY, default=ZERO)
    late_fee_on = models.DateField(_("late fee charged on"), null=True, blank=True)
    penalty_interest = models.DecimalField(_("penalty interest accrued"), max_digits=20, decimal_places=6,
                                           default=ZERO)
    accrued_through = models.DateField(_("accrued through"))
    waived = models.DecimalField(_("waived"), **MONEY, default=ZERO,
                                 help_text=_("Taken off by explicit waivers (ChargeWaiver); the close of business "
                                             "never charges it again."))

    class Meta:
        verbose_name = _("late charges")
        verbose_name_plural = _("late charges")

    def __str__(self) -> str:
        return f"charges of installment {self.installment_id}"


# --- Payments ----------------------------------------------------------------------------------

class Payment(models.Model):
    """Money received for a plan; idempotent by (plan, idempotency key); reversible by staff."""

    class Channel(models.TextChoices):
        SELF_SERVICE = "self_service", _("Self-service")
        OFFICER = "officer", _("Taken by staff")
        BANK_IMPORT = "bank_import", _("Bank receipt import")
        CREDIT = "credit", _("Credit balance applied")

    class State(models.TextChoices):
        POSTED = "posted", _("Posted")
        REVERSED = "reversed", _("Reversed")

    class Overpayment(models.TextChoices):
        CREDIT = "credit", _("Keep as credit for the next installments")
        REDUCE_TERM = "reduce_term", _("Prepay: shorter term, same installment")
        REDUCE_INSTALLMENT = "reduce_installment", _("Prepay: same term, lower installment")

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="payments", verbose_name=_("plan"))
    amount = models.DecimalField(_("amount"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    received_on = models.DateField(_("value date"), help_text=_("When the money was received: allocation, interest, "
                                   "days past due and lateness count from it (the booking time is `created_at`)."))
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100)
    request_fingerprint = models.CharField(max_length=64, editable=False)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    overpayment = models.CharField(_("overpayment"), max_length=20, choices=Overpayment.choices,
                                   default=Overpayment.CREDIT)
    allocated_amount = models.DecimalField(_("paid to installments"), **MONEY, default=ZERO)
    credited_amount = models.DecimalField(_("kept as credit"), **MONEY, default=ZERO)
    prepaid_amount = models.DecimalField(_("prepaid"), **MONEY, default=ZERO)
    schedule_version = models.ForeignKey(ScheduleVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="+", verbose_name=_("schedule version created"))
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.POSTED, db_index=True)
    reversal_reason = models.TextField(_("reversal reason"), blank=True)
    reversed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    reversed_at = models.DateTimeField(_("reversed"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("booked"), default=timezone.now)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-received_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "idempotency_key"], name="payment_idempotency_key_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount=F("allocated_amount") + F("credited_amount") + F("prepaid_amount")),
                name="payment_fully_accounted",
            ),
        ]
        indexes = [models.Index(fields=["plan", "state", "received_on"])]

    def __str__(self) -> str:
        return f"{self.plan} {self.amount} {self.received_on}"


class PaymentAllocation(models.Model):
    """What one payment paid of one installment's component."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="allocations")
    installment = models.ForeignKey(Installment, on_delete=models.PROTECT, related_name="allocations")
    component = models.CharField(_("component"), max_length=10, choices=Component.choices)
    amount = models.DecimalField(_("amount"), **MONEY)

    class Meta:
        verbose_name = _("payment allocation")
        verbose_name_plural = _("payment allocations")
        ordering = ["payment", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_positive")]

    def __str__(self) -> str:
        return f"{self.component} {self.amount}"


# --- Reminders ---------------------------------------------------------------------------------

class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")


class ReminderRule(models.Model):
    """Send `template_key` on `channel` `offset_days` from the due date (-3: three days before)."""

    class Template(models.TextChoices):
        UPCOMING = "upcoming", _("Upcoming installment")
        DUE_TODAY = "due_today", _("Due today")
        OVERDUE = "overdue", _("Overdue: friendly reminder")
        OVERDUE_ESCALATED = "overdue_escalated", _("Overdue: second notice")
        FINAL_NOTICE = "final_notice", _("Overdue: final notice")

    name = models.CharField(_("name"), max_length=80, unique=True)
    offset_days = models.SmallIntegerField(_("days from the due date"),
                                           help_text=_("Negative: before the due date; 0: on it; positive: after."))
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    template_key = models.CharField(_("template"), max_length=24, choices=Template.choices)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("reminder rule")
        verbose_name_plural = _("reminder rules")
        ordering = ["offset_days", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["offset_days", "channel", "template_key"], name="reminder_rule_unique"),
            models.CheckConstraint(condition=Q(offset_days__gte=-60) & Q(offset_days__lte=365),
                                   name="reminder_offset_range"),
        ]

    def __str__(self) -> str:
        return self.name


class Reminder(models.Model):
    """One message to a customer: claimed (unique per installment, rule and day) before it is sent."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        DEFERRED = "deferred", _("Deferred (quiet hours)")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Not sent")

    installment = models.ForeignKey(Installment, on_delete=models.CASCADE, related_name="reminders")
    rule = models.ForeignKey(ReminderRule, on_delete=models.PROTECT, related_name="reminders")
    scheduled_for = models.DateField(_("day"))
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="reminders")
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminders")
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    language = models.CharField(_("language"), max_length=10, blank=True)
    recipient = models.CharField(_("to"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("message"), blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.QUEUED,
                              db_index=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    defer_until = models.DateTimeField(_("deferred until"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    provider_message_id = models.CharField(_("provider reference"), max_length=200, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["-scheduled_for", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["installment", "rule", "scheduled_for"], name="reminder_once_per_day"),
        ]
        indexes = [models.Index(fields=["customer", "scheduled_for"]), models.Index(fields=["status", "defer_until"])]

    def __str__(self) -> str:
        return f"{self.rule} -> {self.customer} ({self.scheduled_for})"


# --- Collections ---------------------------------------------------------------------------------

class CollectionCase(models.Model):
    """The collections file of one overdue plan; opened by the close of business, one open at a time."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="collection_cases")
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN, db_index=True)
    opened_on = models.DateField(_("opened"))
    closed_on = models.DateField(_("closed"), null=True, blank=True)
    close_reason = models.CharField(_("closed because"), max_length=40, blank=True)
    bucket = models.CharField(_("bucket"), max_length=16, db_index=True)
    days_past_due = models.PositiveIntegerField(_("days past due"), default=0)
    amount_overdue = models.DecimalField(_("amount overdue"), **MONEY, default=ZERO)
    broken_promises = models.PositiveSmallIntegerField(_("broken promises"), default=0)
    risk_pd = models.DecimalField(_("probability of default"), max_digits=7, decimal_places=6, null=True,
                                  blank=True)
    priority = models.DecimalField(_("priority"), max_digits=14, decimal_places=2, default=ZERO, db_index=True)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="collection_cases", verbose_name=_("collector"))
    assignment_locked = models.BooleanField(_("assigned by hand"), default=False,
                                            help_text=_("Assignment rules leave a hand-assigned case alone."))
    last_contact_at = models.DateTimeField(_("last contact"), null=True, blank=True)
    legal_reference = models.CharField(_("legal file reference"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("collection case")
        verbose_name_plural = _("collection cases")
        ordering = ["-priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["plan"], condition=Q(status="open"), name="one_open_case_per_plan"),
        ]
        indexes = [models.Index(fields=["status", "assigned_to", "priority"])]

    def __str__(self) -> str:
        return f"case {self.pk} {self.plan}"


class AssignmentRule(models.Model):
    """Collectors who work a bucket; new and re-bucketed cases are spread over them evenly."""

    bucket = models.CharField(_("bucket"), max_length=16)
    collector = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                                  verbose_name=_("collector"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("assignment rule")
        verbose_name_plural = _("assignment rules")
        ordering = ["bucket", "collector_id"]
        constraints = [models.UniqueConstraint(fields=["bucket", "collector"], name="assignment_rule_unique")]

    def __str__(self) -> str:
        return f"{self.bucket} -> {self.collector}"


class ContactLog(models.Model):
    """One contact with the customer (or attempt), with what came of it and why they are late."""

    class ContactChannel(models.TextChoices):
        PHONE = "phone", _("Phone")
        SMS = "sms", _("SMS")
        EMAIL = "email", _("E-mail")
        LETTER = "letter", _("Letter")
        VISIT = "visit", _("Visit")

    class Outcome(models.TextChoices):
        REACHED = "reached", _("Reached the customer")
        NO_ANSWER = "no_answer", _("No answer")
        WRONG_NUMBER = "wrong_number", _("Wrong number")
        PROMISED = "promised", _("Promised to pay")
        REFUSED = "refused", _("Refused to pay")
        DISPUTED = "disputed", _("Disputes the debt")
        CALLBACK = "callback", _("Asked to be called back")

    class Reason(models.TextChoices):
        PERSONAL_FINANCIAL = "personal_financial", _("Personal finances (spending over income)")
        UNEMPLOYMENT = "unemployment", _("Lost job / unemployed")
        ILLNESS = "illness", _("Illness or accident")
        DISPUTE = "dispute", _("Dispute about the goods or the loan")
        EXTERNAL_EVENT = "external_event", _("External event (disaster, policy change, economy)")
        OTHER = "other", _("Other")
        UNKNOWN = "unknown", _("Not known yet")

    PERSONAL_REASONS = (Reason.PERSONAL_FINANCIAL, Reason.UNEMPLOYMENT, Reason.ILLNESS)

    case = models.ForeignKey(CollectionCase, on_delete=models.CASCADE, related_name="contacts")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    contacted_at = models.DateTimeField(_("when"), default=timezone.now)
    channel = models.CharField(_("channel"), max_length=8, choices=ContactChannel.choices)
    outcome = models.CharField(_("outcome"), max_length=14, choices=Outcome.choices)
    reason_category = models.CharField(_("cause of the arrears"), max_length=20, choices=Reason.choices,
                                       default=Reason.UNKNOWN)
    employed = models.BooleanField(_("employed"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contact log")
        ordering = ["-contacted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.get_outcome_display()}"


class PromiseToPay(models.Model):
    """'I will pay X by date D'; kept when payments reach X by D, broken by the close of business otherwise."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        KEPT = "kept", _("Kept")
        BROKEN = "broken", _("Broken")
        CANCELLED = "cancelled", _("Cancelled")

    case = models.ForeignKey(CollectionCase, on_delete=models.CASCADE, related_name="promises")
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="promises")
    amount = models.DecimalField(_("amount"), **MONEY)
    promised_date = models.DateField(_("pay by"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OPEN, db_index=True)
    created_on = models.DateField(_("made on"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    resolved_on = models.DateField(_("resolved"), null=True, blank=True)

    class Meta:
        verbose_name = _("promise to pay")
        verbose_name_plural = _("promises to pay")
        ordering = ["-promised_date", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="promise_amount_positive"),
            models.CheckConstraint(condition=Q(promised_date__gte=F("created_on")), name="promise_not_in_past"),
        ]
        indexes = [models.Index(fields=["state", "promised_date"])]

    def __str__(self) -> str:
        return f"{self.amount} by {self.promised_date}"


class CaseNote(models.Model):
    case = models.ForeignKey(CollectionCase, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField(_("note"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("case note")
        verbose_name_plural = _("case notes")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.text[:60]


class ServicingRequest(models.Model):
    """A change to a plan asked for by the customer or staff, applied when confirmed.

    Customer requests (payment holiday, early payoff) are confirmed by an officer or approver.
    Hardship measures asked for by staff apply at once up to the policy's threshold; above it (and
    always for settlement, legal escalation and write-off) an approver other than the requester
    confirms (four eyes).
    """

    class Kind(models.TextChoices):
        PAYMENT_HOLIDAY = "payment_holiday", _("Payment holiday")
        EARLY_PAYOFF = "early_payoff", _("Early payoff")
        EXTENSION = "extension", _("Due-date extension")
        REINSTALLMENT = "reinstallment", _("Re-installment of the arrears")
        INTEREST_FREEZE = "interest_freeze", _("Interest freeze (no late charges)")
        SETTLEMENT = "settlement", _("Settlement with discount")
        LEGAL = "legal", _("Escalation to legal action")
        WRITE_OFF = "write_off", _("Write-off")
        CHARGE_WAIVER = "charge_waiver", _("Waiver of late charges")
        PAYMENT_REVERSAL = "payment_reversal", _("Payment reversal")
        BACKDATED_POST = "backdated_post", _("Back-dated payment posting")
        CREDIT_REFUND = "credit_refund", _("Refund of the credit balance")

    # Money leaving us (a refund) always needs a second person, whatever the amount.
    ALWAYS_FOUR_EYES = (Kind.SETTLEMENT, Kind.LEGAL, Kind.WRITE_OFF, Kind.CREDIT_REFUND)
    # Measures on money itself: a second person above ServicingPolicy.money_approval_threshold.
    MONEY_KINDS = (Kind.CHARGE_WAIVER, Kind.PAYMENT_REVERSAL, Kind.BACKDATED_POST)
    CUSTOMER_KINDS = (Kind.PAYMENT_HOLIDAY, Kind.EARLY_PAYOFF, Kind.REINSTALLMENT)

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting confirmation")
        APPLIED = "applied", _("Applied")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled")

    class Origin(models.TextChoices):
        CUSTOMER = "customer", _("Customer")
        STAFF = "staff", _("Staff")

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="servicing_requests")
    case = models.ForeignKey(CollectionCase, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="requests")
    kind = models.CharField(_("measure"), max_length=16, choices=Kind.choices)
    origin = models.CharField(_("asked by"), max_length=8, choices=Origin.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING,
                              db_index=True)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    amount = models.DecimalField(_("amount at stake"), **MONEY, default=ZERO)
    needs_approval = models.BooleanField(_("needs a second person"), default=True)
    starts_on = models.DateField(_("from"), null=True, blank=True)
    ends_on = models.DateField(_("to"), null=True, blank=True)
    reason = models.TextField(_("reason"))
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                     related_name="+")
    requested_at = models.DateTimeField(_("asked"), default=timezone.now)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)
    schedule_version = models.ForeignKey(ScheduleVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="+")

    class Meta:
        verbose_name = _("servicing request")
        verbose_name_plural = _("servicing requests")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "kind"], condition=Q(status="pending"),
                                    name="one_pending_request_per_kind"),
            models.CheckConstraint(condition=Q(ends_on__isnull=True) | Q(ends_on__gte=F("starts_on")),
                                   name="request_period_valid"),
        ]
        indexes = [models.Index(fields=["kind", "status", "starts_on", "ends_on"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.plan}"


class PlanSnapshot(models.Model):
    """A plan at the close of one business day, for roll rates, vintages and the overdue analysis."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="snapshots")
    business_date = models.DateField(_("business date"), db_index=True)
    state = models.CharField(_("state"), max_length=16)
    days_past_due = models.PositiveIntegerField(_("days past due"))
    bucket = models.CharField(_("bucket"), max_length=16)
    term_class = models.CharField(_("classification"), max_length=8)
    principal_outstanding = models.DecimalField(_("principal outstanding"), **MONEY)
    amount_overdue = models.DecimalField(_("amount overdue"), **MONEY)

    class Meta:
        verbose_name = _("plan snapshot")
        verbose_name_plural = _("plan snapshots")
        ordering = ["-business_date", "plan"]
        constraints = [models.UniqueConstraint(fields=["plan", "business_date"], name="one_snapshot_per_plan_day")]

    def __str__(self) -> str:
        return f"{self.plan} {self.business_date} {self.bucket}"


class ChargeWaiver(models.Model):
    """One explicit waiver of late charges on one installment: the only way charges go down.

    Shown to the customer and to staff beside the installment; made by a charge-waiver measure (or a
    hardship measure that says it waives), confirmed by a second person above the policy's money
    threshold.
    """

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="charge_waivers")
    installment = models.ForeignKey(Installment, on_delete=models.PROTECT, related_name="charge_waivers")
    request = models.ForeignKey(ServicingRequest, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="waivers")
    amount = models.DecimalField(_("amount waived"), **MONEY)
    reason = models.TextField(_("reason"))
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("waived"), default=timezone.now)

    class Meta:
        verbose_name = _("waiver of charges")
        verbose_name_plural = _("waivers of charges")
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="waiver_amount_positive")]

    def __str__(self) -> str:
        return f"{self.amount} waived on {self.installment}"


class PaymentIntent(models.Model):
    """A customer's wish to pay, on its way through the payment provider (collections_app.servicing.providers).

    Made once per (plan, idempotency key); it carries the provider's transaction id (unique per
    provider) once the provider has answered. Only an authorised intent posts a Payment (one, the
    `payment` link), so a replayed callback or a double submit never posts twice. Every state change
    is audited (collections_app.servicing.intents, INTENT_TRANSITIONS).
    """

    class Status(models.TextChoices):
        CREATED = "created", _("Created")
        PENDING = "pending", _("Waiting for the bank")
        AUTHORISED = "authorised", _("Paid")
        DECLINED = "declined", _("Declined")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="payment_intents", verbose_name=_("plan"))
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payment_intents",
                                 verbose_name=_("customer"))
    amount = models.DecimalField(_("amount"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3)
    overpayment = models.CharField(_("overpayment"), max_length=20, choices=Payment.Overpayment.choices,
                                   default=Payment.Overpayment.CREDIT)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100)
    provider = models.CharField(_("provider"), max_length=40)
    provider_transaction_id = models.CharField(_("provider transaction"), max_length=100, blank=True)
    test_mode = models.BooleanField(_("test mode"), default=False,
                                    help_text=_("Made through a simulated provider: no real money moved."))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.CREATED,
                              db_index=True)
    payment = models.OneToOneField(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="intent",
                                   verbose_name=_("payment"))
    message = models.CharField(_("message"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("payment intent")
        verbose_name_plural = _("payment intents")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "idempotency_key"], name="payment_intent_key_unique"),
            models.UniqueConstraint(fields=["provider", "provider_transaction_id"],
                                    condition=~Q(provider_transaction_id=""), name="payment_intent_txn_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_intent_amount_positive"),
            models.CheckConstraint(condition=Q(payment__isnull=True) | Q(status="authorised"),
                                   name="payment_intent_posts_only_when_authorised"),
        ]

    def __str__(self) -> str:
        return f"{self.plan} {self.amount} {self.currency} ({self.status})"


class ProviderCallbackNonce(models.Model):
    """A nonce seen on a verified provider callback: the same callback sent again is refused."""

    provider = models.CharField(_("provider"), max_length=40)
    nonce = models.CharField(_("nonce"), max_length=64)
    received_at = models.DateTimeField(_("received"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("provider callback nonce")
        verbose_name_plural = _("provider callback nonces")
        constraints = [models.UniqueConstraint(fields=["provider", "nonce"], name="provider_nonce_unique")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.nonce}"


# The general ledger lives in its own package (collections_app/ledger/); importing its models here
# registers them with this app.
from collections_app.ledger.models import (  # noqa: E402, F401
    AccountingPeriod,
    AccountKind,
    AccountMapping,
    AccountRole,
    ChartChangeRequest,
    ClassificationPolicy,
    EventType,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    LoanClass,
    NormalSide,
    PlanAccountBalance,
    PlanClassification,
)
