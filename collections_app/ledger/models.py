"""The general ledger's tables. Imported by `collections_app.models` so Django registers them.

Entries and lines are immutable: the code never updates or deletes them, and on PostgreSQL
triggers (migration 0005) refuse UPDATE/DELETE and check at commit that every entry balances.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}


class AccountKind(models.TextChoices):
    ASSET = "asset", _("Asset")
    LIABILITY = "liability", _("Liability")
    EQUITY = "equity", _("Equity")
    INCOME = "income", _("Income")
    EXPENSE = "expense", _("Expense")


class NormalSide(models.TextChoices):
    DEBIT = "debit", _("Debit")
    CREDIT = "credit", _("Credit")


NORMAL_SIDE_OF_KIND = {
    AccountKind.ASSET: NormalSide.DEBIT,
    AccountKind.EXPENSE: NormalSide.DEBIT,
    AccountKind.LIABILITY: NormalSide.CREDIT,
    AccountKind.EQUITY: NormalSide.CREDIT,
    AccountKind.INCOME: NormalSide.CREDIT,
}


class LedgerAccount(models.Model):
    """One account of the chart. `normal_side` follows `kind` unless set for a contra account
    (the allowance for loan losses is an asset account with a credit normal side)."""

    code = models.CharField(_("code"), max_length=12, unique=True)
    name = models.CharField(_("name"), max_length=120)
    name_zh = models.CharField(_("name (Chinese)"), max_length=120, blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=AccountKind.choices)
    normal_side = models.CharField(_("normal side"), max_length=6, choices=NormalSide.choices, blank=True,
                                   help_text=_("Leave blank to follow the kind; set it for a contra account."))
    channel = models.CharField(_("payment channel"), max_length=40, blank=True,
                               help_text=_("For a clearing account: the payment channel or provider it clears."))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("ledger account")
        verbose_name_plural = _("chart of accounts")
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=AccountKind.values), name="ledger_account_kind_valid"),
            models.CheckConstraint(condition=Q(normal_side__in=["", *NormalSide.values]),
                                   name="ledger_account_normal_side_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def save(self, *args, **kwargs):
        if not self.normal_side:
            self.normal_side = NORMAL_SIDE_OF_KIND[AccountKind(self.kind)]
        super().save(*args, **kwargs)

    @property
    def is_debit_normal(self) -> bool:
        return (self.normal_side or NORMAL_SIDE_OF_KIND[AccountKind(self.kind)]) == NormalSide.DEBIT


class AccountingPeriod(models.Model):
    """A calendar month of the books; once closed, nothing is posted with a value date inside it."""

    month = models.DateField(_("month"), unique=True, help_text=_("The first day of the month."))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("closed by"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-month"]
        verbose_name = _("accounting period")
        verbose_name_plural = _("accounting periods")

    def __str__(self) -> str:
        return self.month.strftime("%Y-%m")

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


class EventType(models.TextChoices):
    DISBURSEMENT = "disbursement", _("Disbursement")
    UPFRONT_FEE = "upfront_fee", _("Upfront fee")
    REPAYMENT = "repayment", _("Repayment")
    REVERSAL = "reversal", _("Reversal")
    INTEREST_ACCRUAL = "interest_accrual", _("Interest accrual")
    LATE_CHARGE_ACCRUAL = "late_charge_accrual", _("Late-charge accrual")
    WAIVER = "waiver", _("Waiver")
    INTEREST_FREEZE = "interest_freeze", _("Interest freeze")
    SETTLEMENT_DISCOUNT = "settlement_discount", _("Settlement discount")
    WRITE_OFF = "write_off", _("Write-off")
    RECOVERY = "recovery", _("Recovery")
    CREDIT_REFUND = "credit_refund", _("Credit balance refund")
    PROVISION = "provision", _("Provision")
    MANUAL = "manual", _("Manual entry")
    FEE_ACCRUAL = "fee_accrual", _("Fee accrual")
    RESCHEDULE = "reschedule", _("Schedule change")


class JournalEntry(models.Model):
    """One balanced posting: what happened (`event_type`, `source_*`), to which plan, on which value
    date, booked when and by whom. Never edited; a mistake is undone by a contra entry (`reverses`)."""

    value_date = models.DateField(_("value date"), db_index=True)
    booked_at = models.DateTimeField(_("booked at"), default=timezone.now)
    event_type = models.CharField(_("event"), max_length=24, choices=EventType.choices)
    plan = models.ForeignKey("installments.Plan", verbose_name=_("plan"), null=True, blank=True,
                             on_delete=models.PROTECT, related_name="journal_entries")
    source_type = models.CharField(_("source type"), max_length=60, blank=True)
    source_id = models.CharField(_("source id"), max_length=60, blank=True)
    reverses = models.OneToOneField("self", verbose_name=_("reverses"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="reversed_by")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")
    memo = models.CharField(_("memo"), max_length=255, blank=True)

    class Meta:
        ordering = ["value_date", "pk"]
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        constraints = [models.CheckConstraint(condition=Q(event_type__in=EventType.values),
                                              name="ledger_entry_event_type_valid")]
        indexes = [models.Index(fields=["source_type", "source_id"], name="ledger_entry_source_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.value_date} {self.event_type}"


class JournalLine(models.Model):
    """One side of an entry on one account: exactly one of `debit` and `credit` is positive."""

    entry = models.ForeignKey(JournalEntry, verbose_name=_("entry"), on_delete=models.PROTECT, related_name="lines")
    # ledger_line_account_idx (account, entry) serves lookups by account: no index of its own.
    account = models.ForeignKey(LedgerAccount, verbose_name=_("account"), on_delete=models.PROTECT,
                                related_name="lines", db_index=False)
    debit = models.DecimalField(_("debit"), default=0, **MONEY)
    credit = models.DecimalField(_("credit"), default=0, **MONEY)
    plan = models.ForeignKey("installments.Plan", verbose_name=_("plan"), null=True, blank=True,
                             on_delete=models.PROTECT, related_name="journal_lines")
    product = models.ForeignKey("installments.LoanProduct", verbose_name=_("product"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+",
                                help_text=_("The product of the plan, or of the plans a summary line adds up."))

    class Meta:
        ordering = ["entry_id", "pk"]
        verbose_name = _("journal line")
        verbose_name_plural = _("journal lines")
        constraints = [
            models.CheckConstraint(
                condition=(Q(debit__gt=0, credit=0) | Q(debit=0, credit__gt=0)),
                name="ledger_line_one_side_positive"),
        ]
        indexes = [models.Index(fields=["account", "entry"], name="ledger_line_account_idx")]

    def __str__(self) -> str:
        return f"{self.account.code} Dr {self.debit} Cr {self.credit}"


class AccountRole(models.TextChoices):
    """What an account does for a product's events; `AccountMapping` names the account for each."""

    PRINCIPAL = "principal", _("Loans receivable (principal)")
    INTEREST_RECEIVABLE = "interest_receivable", _("Interest receivable")
    FEE_RECEIVABLE = "fee_receivable", _("Fees receivable")
    PENALTY_RECEIVABLE = "penalty_receivable", _("Late charges receivable")
    CUSTOMER_CREDIT = "customer_credit", _("Customer credit balances")
    DISBURSEMENT = "disbursement", _("Disbursement (cash at bank)")
    INTEREST_INCOME = "interest_income", _("Interest income")
    FEE_INCOME = "fee_income", _("Fee income")
    PENALTY_INCOME = "penalty_income", _("Penalty income")
    RECOVERIES = "recoveries", _("Recoveries")
    ALLOWANCE = "allowance", _("Allowance for loan losses")
    PROVISION_EXPENSE = "provision_expense", _("Provision expense")
    WRITE_OFF_EXPENSE = "write_off_expense", _("Write-off expense")
    SUSPENSE = "suspense", _("Suspense")


class AccountMapping(models.Model):
    """The account a product's events post to for one role; a row without a product is the default."""

    product = models.ForeignKey("installments.LoanProduct", verbose_name=_("product"), null=True, blank=True,
                                on_delete=models.CASCADE, related_name="account_mappings",
                                help_text=_("Leave blank for the default of every product."))
    role = models.CharField(_("role"), max_length=24, choices=AccountRole.choices)
    account = models.ForeignKey(LedgerAccount, verbose_name=_("account"), on_delete=models.PROTECT,
                                related_name="mappings")

    class Meta:
        ordering = ["product_id", "role"]
        verbose_name = _("account mapping")
        verbose_name_plural = _("account mappings")
        constraints = [
            models.UniqueConstraint(fields=["product", "role"], name="ledger_mapping_product_role_unique"),
            models.UniqueConstraint(fields=["role"], condition=Q(product__isnull=True),
                                    name="ledger_mapping_default_role_unique"),
            models.CheckConstraint(condition=Q(role__in=AccountRole.values), name="ledger_mapping_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.product or _('default')}: {self.role} -> {self.account.code}"


class PlanAccountBalance(models.Model):
    """What the general ledger holds for one plan on one account (debits minus credits), kept by every
    posting in the same statement batch as its lines; the sub-ledger is compared against it."""

    # The unique (plan, account) index serves lookups by plan: no index of its own.
    plan = models.ForeignKey("installments.Plan", verbose_name=_("plan"), on_delete=models.PROTECT,
                             related_name="account_balances", db_index=False)
    account = models.ForeignKey(LedgerAccount, verbose_name=_("account"), on_delete=models.PROTECT,
                                related_name="plan_balances")
    balance = models.DecimalField(_("balance (debit - credit)"), max_digits=16, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("plan balance on an account")
        verbose_name_plural = _("plan balances on accounts")
        constraints = [models.UniqueConstraint(fields=["plan", "account"], name="ledger_plan_balance_unique")]

    def __str__(self) -> str:
        return f"{self.plan_id}/{self.account_id}: {self.balance}"


class LoanClass(models.TextChoices):
    """The five-tier loan classification (五级分类)."""

    NORMAL = "normal", _("Normal")
    SPECIAL_MENTION = "special_mention", _("Special mention")
    SUBSTANDARD = "substandard", _("Substandard")
    DOUBTFUL = "doubtful", _("Doubtful")
    LOSS = "loss", _("Loss")


LOAN_CLASS_ORDER = [c.value for c in LoanClass]

RATE = {"max_digits": 6, "decimal_places": 4}


class ClassificationPolicy(models.Model):
    """Days-past-due thresholds of the five tiers and each tier's provision rate (a share of the
    plan's principal and interest receivable). The policy in force on a day is the latest whose
    `effective_from` is on or before it."""

    effective_from = models.DateField(_("effective from"), unique=True)
    special_mention_from_dpd = models.PositiveIntegerField(_("special mention from (days past due)"), default=1)
    substandard_from_dpd = models.PositiveIntegerField(_("substandard from (days past due)"), default=91)
    doubtful_from_dpd = models.PositiveIntegerField(_("doubtful from (days past due)"), default=181)
    loss_from_dpd = models.PositiveIntegerField(_("loss from (days past due)"), default=361)
    restructured_at_least = models.CharField(
        _("a restructured plan is at least"), max_length=16, choices=LoanClass.choices,
        default=LoanClass.SUBSTANDARD)
    rate_normal = models.DecimalField(_("provision rate: normal"), **RATE, default=Decimal("0.0150"))
    rate_special_mention = models.DecimalField(_("provision rate: special mention"), **RATE,
                                               default=Decimal("0.0200"))
    rate_substandard = models.DecimalField(_("provision rate: substandard"), **RATE, default=Decimal("0.2500"))
    rate_doubtful = models.DecimalField(_("provision rate: doubtful"), **RATE, default=Decimal("0.5000"))
    rate_loss = models.DecimalField(_("provision rate: loss"), **RATE, default=Decimal("1.0000"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["-effective_from"]
        verbose_name = _("classification policy")
        verbose_name_plural = _("classification policies")
        constraints = [
            models.CheckConstraint(
                condition=(Q(special_mention_from_dpd__lt=models.F("substandard_from_dpd"))
                           & Q(substandard_from_dpd__lt=models.F("doubtful_from_dpd"))
                           & Q(doubtful_from_dpd__lt=models.F("loss_from_dpd"))),
                name="ledger_classification_thresholds_increase"),
        ]

    def __str__(self) -> str:
        return f"{_('classification policy')} {self.effective_from}"


class PlanClassification(models.Model):
    """A plan's classification from a business day on: a row only when it changes (its history)."""

    plan = models.ForeignKey("installments.Plan", verbose_name=_("plan"), on_delete=models.CASCADE,
                             related_name="classifications")
    business_date = models.DateField(_("from"), db_index=True)
    loan_class = models.CharField(_("classification"), max_length=16, choices=LoanClass.choices)
    previous_class = models.CharField(_("previous classification"), max_length=16, choices=LoanClass.choices,
                                      blank=True)
    days_past_due = models.PositiveIntegerField(_("days past due"), default=0)
    restructured = models.BooleanField(_("restructured"), default=False)

    class Meta:
        ordering = ["plan_id", "-business_date"]
        verbose_name = _("plan classification")
        verbose_name_plural = _("plan classifications")
        constraints = [models.UniqueConstraint(fields=["plan", "business_date"],
                                               name="ledger_classification_plan_day_unique")]

    def __str__(self) -> str:
        return f"{self.plan_id} {self.business_date}: {self.loan_class}"


class ChartChangeRequest(models.Model):
    """A change to the chart of accounts or the account mappings, proposed by one admin and applied
    only when a second admin approves it (four-eyes)."""

    class Kind(models.TextChoices):
        ACCOUNT_CREATE = "account_create", _("Add an account")
        ACCOUNT_UPDATE = "account_update", _("Change an account")
        MAPPING_SET = "mapping_set", _("Map a role to an account")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPLIED = "applied", _("Applied")
        REJECTED = "rejected", _("Rejected")

    kind = models.CharField(_("change"), max_length=16, choices=Kind.choices)
    params = models.JSONField(_("details"), default=dict)
    reason = models.CharField(_("reason"), max_length=255)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING,
                              db_index=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("requested by"),
                                     on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(_("requested"), default=timezone.now)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("decided by"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_note = models.CharField(_("note"), max_length=255, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        verbose_name = _("chart of accounts change")
        verbose_name_plural = _("chart of accounts changes")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_status_display()})"
