"""Accounts, roles and the audit trail; the customer profile lives beside them."""

import uuid
from pathlib import PurePath

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.roles import STAFF_ROLES, Role


class UserManager(DjangoUserManager):
    """Users log in by e-mail; there is no separate user name."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("email: an e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email=None, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email=None, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(_("e-mail address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=10, choices=settings.LANGUAGES, default="en"
    )
    is_staff = models.BooleanField(_("admin site access"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    @property
    def role_names(self) -> set[str]:
        """The user's roles (group names). Cached on the instance (customers.backends fills the cache
        when it reads the signed-in user); superusers hold every role."""
        if not hasattr(self, "_role_names"):
            if self.is_superuser:
                self._role_names = {r.value for r in Role}
            else:
                self._role_names = set(self.groups.values_list("name", flat=True))
        return self._role_names

    def has_role(self, *roles: str) -> bool:
        return bool(self.role_names & {str(r) for r in roles})

    @property
    def is_staff_member(self) -> bool:
        """Works in the staff UI (any staff role); distinct from `is_staff`, which opens the admin."""
        return self.has_role(*STAFF_ROLES)


class AuditEvent(models.Model):
    """Who did what to which object, when and why; written by services, never edited."""

    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("who"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    action = models.CharField(_("action"), max_length=64, db_index=True)
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    target_repr = models.CharField(_("object"), max_length=200, blank=True)
    from_state = models.CharField(_("from"), max_length=32, blank=True)
    to_state = models.CharField(_("to"), max_length=32, blank=True)
    reason = models.TextField(_("why"), blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id", "created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor or 'system'} {self.action} {self.target_repr}"


# --- The customer profile ---------------------------------------------------------------------
# Choices are one vocabulary across the profile, the API, scoring features and the demo data.

class IdType(models.TextChoices):
    PRC_RESIDENT_ID = "prc_resident_id", _("PRC resident ID card")
    PASSPORT = "passport", _("Passport")
    HK_MACAU_PERMIT = "hk_macau_permit", _("Travel permit for Hong Kong and Macau residents")
    TAIWAN_PERMIT = "taiwan_permit", _("Travel permit for Taiwan residents")
    FOREIGN_PERMANENT_ID = "foreign_permanent_id", _("Foreign permanent resident ID card")


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")


class Occupation(models.TextChoices):
    CIVIL_SERVANT = "civil_servant", _("Civil servant / public institution")
    OFFICE_WORKER = "office_worker", _("Office worker")
    PROFESSIONAL = "professional", _("Professional (doctor, lawyer, engineer, ...)")
    TEACHER = "teacher", _("Teacher")
    HEALTHCARE = "healthcare", _("Healthcare worker")
    SALES_SERVICE = "sales_service", _("Sales / service staff")
    FACTORY_WORKER = "factory_worker", _("Factory worker")
    CONSTRUCTION = "construction", _("Construction worker")
    DRIVER_LOGISTICS = "driver_logistics", _("Driver / logistics")
    FARMER = "farmer", _("Farmer")
    TRADER = "trader", _("Shopkeeper / trader")
    STUDENT = "student", _("Student")
    RETIRED = "retired", _("Retired")
    HOMEMAKER = "homemaker", _("Homemaker")
    OTHER = "other", _("Other")


class EmploymentType(models.TextChoices):
    SALARIED = "salaried", _("Salaried")
    SELF_EMPLOYED = "self_employed", _("Self-employed")
    BUSINESS_OWNER = "business_owner", _("Business owner")
    STUDENT = "student", _("Student")
    RETIRED = "retired", _("Retired")
    UNEMPLOYED = "unemployed", _("Unemployed")


class Education(models.TextChoices):
    PRIMARY = "primary", _("Primary school")
    SECONDARY = "secondary", _("Secondary school")
    VOCATIONAL = "vocational", _("Vocational")
    BACHELOR = "bachelor", _("Bachelor's degree")
    POSTGRADUATE = "postgraduate", _("Postgraduate")


class MaritalStatus(models.TextChoices):
    SINGLE = "single", _("Single")
    MARRIED = "married", _("Married")
    DIVORCED = "divorced", _("Divorced")
    WIDOWED = "widowed", _("Widowed")


class Housing(models.TextChoices):
    OWN = "own", _("Own home, no mortgage")
    MORTGAGE = "mortgage", _("Own home with a mortgage")
    RENT = "rent", _("Renting")
    FAMILY = "family", _("Living with family / provided")


class IncomeSource(models.TextChoices):
    SALARY = "salary", _("Salary")
    BUSINESS = "business", _("Business income")
    RENTAL = "rental", _("Rental income")
    INVESTMENT = "investment", _("Investment income")
    PENSION = "pension", _("Pension")
    BENEFITS = "benefits", _("Benefits")
    OTHER = "other", _("Other")


class ExpenseCategory(models.TextChoices):
    HOUSING = "housing", _("Rent and housing costs")
    FOOD = "food", _("Food and groceries")
    UTILITIES = "utilities", _("Utilities and phone")
    TRANSPORT = "transport", _("Transport")
    EDUCATION = "education", _("Education and childcare")
    HEALTHCARE = "healthcare", _("Healthcare")
    INSURANCE = "insurance", _("Insurance")
    FAMILY_SUPPORT = "family_support", _("Support for family members")
    LEISURE = "leisure", _("Leisure")
    OTHER = "other", _("Other")


class DebtKind(models.TextChoices):
    MORTGAGE = "mortgage", _("Mortgage")
    CAR_LOAN = "car_loan", _("Car loan")
    CREDIT_CARD = "credit_card", _("Credit card")
    CONSUMER_LOAN = "consumer_loan", _("Consumer loan")
    OTHER = "other", _("Other")


class AssetKind(models.TextChoices):
    SAVINGS = "savings", _("Savings and deposits")
    PROPERTY = "property", _("Property")
    VEHICLE = "vehicle", _("Vehicle")
    OTHER = "other", _("Other")


def _money_field(verbose_name, **kwargs) -> models.DecimalField:
    """Money: Decimal(14, 2), never negative (the CheckConstraint enforces it in the database too)."""
    return models.DecimalField(verbose_name, max_digits=14, decimal_places=2, validators=[MinValueValidator(0)],
                               **kwargs)


def _non_negative(model: str, *fields: str) -> list[models.CheckConstraint]:
    return [models.CheckConstraint(condition=models.Q(**{f"{f}__gte": 0}), name=f"{model}_{f}_non_negative")
            for f in fields]


class CustomerProfile(models.Model):
    """Who the customer is: identity, contact, background, declared credit history and our record.

    The ID number is never stored in plain text: `id_number_encrypted` (Fernet) is only decrypted
    by the audited `customer_reveal_id` service; `id_number_hash` (keyed HMAC) finds a profile
    by exact number and makes one number belong to one customer; `id_number_masked` is what every
    page, log and API shows.

    `sex` is kept only for fairness reporting (approval and default rates by group). It is never
    a scoring or pricing input and is left out of `selectors.profile_summary` on purpose.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="profile",
                                verbose_name=_("user"))
    full_name = models.CharField(_("full name"), max_length=100)
    id_type = models.CharField(_("ID type"), max_length=24, choices=IdType, default=IdType.PRC_RESIDENT_ID)
    id_number_encrypted = models.TextField(_("ID number (encrypted)"), editable=False)
    id_number_hash = models.CharField(_("ID number search hash"), max_length=64, editable=False)
    id_number_masked = models.CharField(_("ID number"), max_length=32, editable=False)
    date_of_birth = models.DateField(_("date of birth"))
    sex = models.CharField(
        _("sex"), max_length=6, choices=Sex, blank=True,
        help_text=_("Used only to check that our decisions are fair across groups; never used to score or price."),
    )
    phone = models.CharField(_("mobile phone"), max_length=20, db_index=True)
    email = models.EmailField(_("e-mail"))
    province = models.CharField(_("province"), max_length=50)
    city = models.CharField(_("city"), max_length=50)
    district = models.CharField(_("district"), max_length=50)
    street = models.CharField(_("street address"), max_length=200)
    postcode = models.CharField(_("postcode"), max_length=6, blank=True)

    occupation = models.CharField(_("occupation"), max_length=20, choices=Occupation, blank=True)
    occupation_other = models.CharField(_("occupation (other)"), max_length=100, blank=True)
    employer = models.CharField(_("employer"), max_length=150, blank=True)
    employment_type = models.CharField(_("employment type"), max_length=16, choices=EmploymentType, blank=True)
    years_in_job = models.DecimalField(
        _("years in current job"), max_digits=4, decimal_places=1, null=True, blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(70)],
    )
    education = models.CharField(_("education"), max_length=16, choices=Education, blank=True)
    marital_status = models.CharField(_("marital status"), max_length=10, choices=MaritalStatus, blank=True)
    dependants = models.PositiveSmallIntegerField(_("dependants"), default=0, validators=[MaxValueValidator(20)])
    housing = models.CharField(_("housing"), max_length=10, choices=Housing, blank=True)

    # Credit history as the customer reports it (a bureau report is a document of kind credit_report).
    number_of_existing_credits = models.PositiveSmallIntegerField(_("number of existing credits"), default=0)
    past_delinquencies = models.PositiveSmallIntegerField(_("past delinquencies"), default=0)

    # Repayment record with us: maintained by servicing (installments / collections), not the customer.
    on_time_payments = models.PositiveIntegerField(_("on-time payments"), default=0)
    late_payments = models.PositiveIntegerField(_("late payments"), default=0)
    max_days_past_due = models.PositiveIntegerField(_("maximum days past due"), default=0)
    current_overdue = _money_field(_("amount overdue now"), default=0)

    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("customer profile")
        verbose_name_plural = _("customer profiles")
        ordering = ["full_name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["id_number_hash"], name="customer_profile_unique_id_number"),
            models.CheckConstraint(
                condition=~models.Q(occupation="other") | ~models.Q(occupation_other=""),
                name="customer_profile_other_occupation_named",
            ),
            *_non_negative("customer_profile", "years_in_job", "current_overdue"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.id_number_masked})"

    @property
    def occupation_label(self) -> str:
        if self.occupation == Occupation.OTHER:
            return self.occupation_other
        return self.get_occupation_display()


class FinanceLine(models.Model):
    """One declared line of a profile's finances. Totals are computed from the lines, never stored."""

    description = models.CharField(_("description"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True
        ordering = ["pk"]


class IncomeLine(FinanceLine):
    profile = models.ForeignKey(CustomerProfile, on_delete=models.CASCADE, related_name="incomes")
    source = models.CharField(_("source"), max_length=12, choices=IncomeSource)
    monthly_amount = _money_field(_("monthly amount"))

    class Meta(FinanceLine.Meta):
        verbose_name = _("income line")
        verbose_name_plural = _("income lines")
        constraints = _non_negative("income_line", "monthly_amount")

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.monthly_amount}"


class ExpenseLine(FinanceLine):
    profile = models.ForeignKey(CustomerProfile, on_delete=models.CASCADE, related_name="expenses")
    category = models.CharField(_("category"), max_length=16, choices=ExpenseCategory)
    monthly_amount = _money_field(_("monthly amount"))

    class Meta(FinanceLine.Meta):
        verbose_name = _("expense line")
        verbose_name_plural = _("expense lines")
        constraints = _non_negative("expense_line", "monthly_amount")

    def __str__(self) -> str:
        return f"{self.get_category_display()} {self.monthly_amount}"


class DebtLine(FinanceLine):
    profile = models.ForeignKey(CustomerProfile, on_delete=models.CASCADE, related_name="debts")
    lender = models.CharField(_("lender"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=DebtKind)
    outstanding_balance = _money_field(_("outstanding balance"))
    monthly_payment = _money_field(_("monthly payment"))

    class Meta(FinanceLine.Meta):
        verbose_name = _("existing debt")
        verbose_name_plural = _("existing debts")
        constraints = _non_negative("debt_line", "outstanding_balance", "monthly_payment")

    def __str__(self) -> str:
        return f"{self.lender} {self.get_kind_display()} {self.outstanding_balance}"


class AssetLine(FinanceLine):
    profile = models.ForeignKey(CustomerProfile, on_delete=models.CASCADE, related_name="assets")
    kind = models.CharField(_("kind"), max_length=10, choices=AssetKind)
    value = _money_field(_("value"))

    class Meta(FinanceLine.Meta):
        verbose_name = _("asset")
        verbose_name_plural = _("assets")
        constraints = _non_negative("asset_line", "value")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value}"


# --- Documents ------------------------------------------------------------------------------------

class DocumentKind(models.TextChoices):
    ID_FRONT = "id_front", _("ID card, front")
    ID_BACK = "id_back", _("ID card, back")
    INCOME_PROOF = "income_proof", _("Proof of income")
    BANK_STATEMENT = "bank_statement", _("Bank statement")
    ASSET_PROOF = "asset_proof", _("Proof of assets")
    CREDIT_REPORT = "credit_report", _("Credit bureau report")
    OTHER = "other", _("Other")


class ReviewState(models.TextChoices):
    PENDING = "pending", _("Awaiting review")
    VERIFIED = "verified", _("Verified")
    REJECTED = "rejected", _("Rejected")


def document_upload_to(instance: "CustomerDocument", filename: str) -> str:
    """A random, non-guessable name under documents/; only the extension of `filename` is kept."""
    suffix = PurePath(filename).suffix.lower()
    return f"documents/{uuid.uuid4().hex}{suffix if suffix in ('.pdf', '.jpg', '.png') else ''}"


class CustomerDocument(models.Model):
    """An uploaded file. Stored under a random name, never reachable by URL: only the
    permission-checked download view serves it. Officers verify or reject it (with a reason)."""

    REVIEW_TRANSITIONS = {
        ReviewState.PENDING: {ReviewState.VERIFIED, ReviewState.REJECTED},
        # An officer may correct a decision; both moves are audited.
        ReviewState.VERIFIED: {ReviewState.REJECTED},
        ReviewState.REJECTED: {ReviewState.VERIFIED},
    }

    profile = models.ForeignKey(CustomerProfile, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(_("kind"), max_length=16, choices=DocumentKind)
    file = models.FileField(_("file"), upload_to=document_upload_to, max_length=200)
    original_filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("content type"), max_length=40)
    size_bytes = models.PositiveIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(_("uploaded"), default=timezone.now, db_index=True)
    review_state = models.CharField(_("review"), max_length=10, choices=ReviewState, default=ReviewState.PENDING)
    review_reason = models.TextField(_("review reason"), blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", verbose_name=_("reviewed by"))
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer document")
        verbose_name_plural = _("customer documents")
        ordering = ["-uploaded_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(review_state="rejected") | ~models.Q(review_reason=""),
                name="customer_document_rejection_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.original_filename}"


# --- Bank statements ------------------------------------------------------------------------------

class SpendingCategory(models.TextChoices):
    INCOME = "income", _("Income (salary-like inflow)")
    GROCERIES = "groceries", _("Groceries")
    DINING = "dining", _("Dining out")
    HOUSING = "housing", _("Housing")
    UTILITIES = "utilities", _("Utilities and phone")
    TRANSPORT = "transport", _("Transport")
    SHOPPING = "shopping", _("Shopping")
    HEALTHCARE = "healthcare", _("Healthcare")
    EDUCATION = "education", _("Education")
    ENTERTAINMENT = "entertainment", _("Entertainment")
    INSURANCE = "insurance", _("Insurance")
    LOAN_REPAYMENT = "loan_repayment", _("Loan and card repayments")
    TRANSFER = "transfer", _("Transfers")
    CASH = "cash", _("Cash withdrawals")
    OTHER = "other", _("Other")


class SpendingCategoryRule(models.Model):
    """A description keyword and the spending category it means (see `statements.categorise`).

    Case-insensitive; Latin keywords match whole words, Chinese ones anywhere; the longest
    matching keyword wins. Rules of category `income` mark salary-like inflows.
    """

    keyword = models.CharField(_("keyword"), max_length=50)
    category = models.CharField(_("category"), max_length=16, choices=SpendingCategory)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("spending category rule")
        verbose_name_plural = _("spending category rules")
        ordering = ["category", "keyword"]
        constraints = [models.UniqueConstraint(Lower("keyword"), name="spending_rule_unique_keyword")]

    def __str__(self) -> str:
        return f"{self.keyword} -> {self.category}"


class StatementSummary(models.Model):
    """The spending summary of one imported bank statement (see `customers.statements`).

    The key numbers are columns (for queries and scoring); `summary` holds the whole result:
    monthly flows, seasonality and category shares.
    """

    profile = models.ForeignKey(CustomerProfile, on_delete=models.CASCADE, related_name="statements")
    original_filename = models.CharField(_("file name"), max_length=255)
    file_sha256 = models.CharField(_("SHA-256"), max_length=64)
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to"))
    months_covered = models.PositiveSmallIntegerField(_("months covered"))
    transaction_count = models.PositiveIntegerField(_("transactions"))
    average_monthly_inflow = _money_field(_("average monthly inflow"))
    average_monthly_outflow = _money_field(_("average monthly outflow"))
    income_regularity = models.DecimalField(_("income regularity"), max_digits=5, decimal_places=4)
    income_volatility = models.DecimalField(_("income volatility"), max_digits=8, decimal_places=4, null=True,
                                            blank=True)
    overdraft_days = models.PositiveIntegerField(_("overdraft days"))
    summary = models.JSONField(_("summary"))
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    imported_at = models.DateTimeField(_("imported"), default=timezone.now)

    class Meta:
        verbose_name = _("statement summary")
        verbose_name_plural = _("statement summaries")
        ordering = ["-period_end", "-imported_at", "-pk"]
        get_latest_by = ["period_end", "imported_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "file_sha256"], name="statement_summary_unique_file"),
            *_non_negative("statement_summary", "average_monthly_inflow", "average_monthly_outflow"),
        ]

    def __str__(self) -> str:
        return f"{self.profile.full_name}: {self.period_start} – {self.period_end}"


# --- Officer interviews and consents ----------------------------------------------------------------

class InterviewNote(models.Model):
    """The qualitative half of the assessment, written by an officer after talking to the customer."""

    RATING_HELP = _("1 = very low, 5 = very high")

    profile = models.ForeignKey(CustomerProfile, on_delete=models.CASCADE, related_name="interview_notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
                               verbose_name=_("author"))
    text = models.TextField(_("notes"))
    stability_rating = models.PositiveSmallIntegerField(
        _("stability"), validators=[MinValueValidator(1), MaxValueValidator(5)], help_text=RATING_HELP,
    )
    willingness_rating = models.PositiveSmallIntegerField(
        _("willingness to repay"), validators=[MinValueValidator(1), MaxValueValidator(5)], help_text=RATING_HELP,
    )
    created_at = models.DateTimeField(_("written"), default=timezone.now)

    class Meta:
        verbose_name = _("interview note")
        verbose_name_plural = _("interview notes")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(**{f"{f}__range": (1, 5)}), name=f"interview_note_{f}_1_to_5")
            for f in ("stability_rating", "willingness_rating")
        ]

    def __str__(self) -> str:
        return f"{self.profile.full_name} {self.created_at:%Y-%m-%d}"


class ConsentKind(models.TextChoices):
    CREDIT_CHECK = "credit_check", _("Credit check")
    DATA_PROCESSING = "data_processing", _("Processing of my personal data")
    MARKETING = "marketing", _("Marketing messages")


# The consent texts customers agree to. Change the wording -> change the version, so every
# consent row says exactly which text was accepted.
CONSENT_TEXT_VERSION = "2026-01"
CONSENT_TEXTS = {
    ConsentKind.CREDIT_CHECK: _("I allow Fair Installments to obtain my credit report from the credit bureau to "
                                "assess my applications."),
    ConsentKind.DATA_PROCESSING: _("I allow Fair Installments to store and process the personal and financial "
                                   "data I provide, and the documents I upload, to assess and service my plans."),
    ConsentKind.MARKETING: _("I would like to receive offers and news by e-mail and SMS."),
}


class Consent(models.Model):
    """A customer's consent to one text version; withdrawing sets `withdrawn_at` (rows are never deleted)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="consents")
    kind = models.CharField(_("kind"), max_length=16, choices=ConsentKind)
    text_version = models.CharField(_("text version"), max_length=20)
    granted_at = models.DateTimeField(_("granted"), default=timezone.now)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["-granted_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "text_version"], condition=models.Q(withdrawn_at__isnull=True),
                name="consent_one_active_per_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.kind} {self.text_version}"

    @property
    def is_active(self) -> bool:
        return self.withdrawn_at is None


# --- Customer self-service: application drafts and satisfaction ----------------------------------------

class ApplicationDraft(models.Model):
    """Where a customer is in the online application (portal.services).

    What the customer enters is saved where it belongs as they go (the profile, its finance lines and
    documents, the draft `installments.Application`, consents); the draft keeps only the wizard's
    place: the last step shown, the furthest step reached and, per step, input that could not be
    saved yet (so going back never loses it). One open draft per customer.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="application_drafts",
                             verbose_name=_("customer"))
    application = models.OneToOneField("installments.Application", null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="draft", verbose_name=_("application"))
    current_step = models.CharField(_("last step shown"), max_length=20, default="personal")
    furthest_step = models.PositiveSmallIntegerField(_("furthest step reached"), default=0)
    pending_input = models.JSONField(_("input not saved yet"), default=dict, blank=True)
    created_at = models.DateTimeField(_("started"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    discarded_at = models.DateTimeField(_("discarded"), null=True, blank=True)

    class Meta:
        verbose_name = _("application draft")
        verbose_name_plural = _("application drafts")
        ordering = ["-updated_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(submitted_at__isnull=True, discarded_at__isnull=True),
                name="application_draft_one_open_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.current_step} ({self.updated_at:%Y-%m-%d})"

    @property
    def is_open(self) -> bool:
        return self.submitted_at is None and self.discarded_at is None


class SatisfactionMoment(models.TextChoices):
    AFTER_CONTRACT = "after_contract", _("After accepting the contract")
    AFTER_PAYOFF = "after_payoff", _("After paying off the plan")


class SatisfactionRating(models.Model):
    """A customer's 1-5 rating and comment at one moment of one application (once per moment)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="satisfaction_ratings",
                             verbose_name=_("customer"))
    application = models.ForeignKey("installments.Application", on_delete=models.CASCADE,
                                    related_name="satisfaction_ratings", verbose_name=_("application"))
    plan = models.ForeignKey("installments.Plan", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="satisfaction_ratings", verbose_name=_("plan"))
    moment = models.CharField(_("moment"), max_length=16, choices=SatisfactionMoment)
    rating = models.PositiveSmallIntegerField(_("rating"), validators=[MinValueValidator(1), MaxValueValidator(5)],
                                              help_text=_("1 = very dissatisfied, 5 = very satisfied"))
    comment = models.TextField(_("comment"), blank=True, max_length=2000)
    created_at = models.DateTimeField(_("given"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("satisfaction rating")
        verbose_name_plural = _("satisfaction ratings")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["application", "moment"], name="satisfaction_one_per_moment"),
            models.CheckConstraint(condition=models.Q(rating__range=(1, 5)), name="satisfaction_rating_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.moment} {self.rating}/5"


class OutboxTask(models.Model):
    """A Celery task queued in the same transaction as the change it follows (customers/outbox.py):
    published after commit, published again by the dispatcher until a worker has run it."""

    task_name = models.CharField(_("task"), max_length=200)
    args = models.JSONField(_("arguments"), default=list, blank=True)
    kwargs = models.JSONField(_("keyword arguments"), default=dict, blank=True)
    created_at = models.DateTimeField(_("queued"), default=timezone.now, db_index=True)
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)
    due_at = models.DateTimeField(_("next publish"), null=True, blank=True,
                                  help_text=_("When the dispatcher publishes it (again) unless it is done; "
                                              "empty once done or given up."))
    dispatched_at = models.DateTimeField(_("last published"), null=True, blank=True)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("publications"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("outbox task")
        verbose_name_plural = _("outbox tasks")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["due_at"], condition=models.Q(done_at__isnull=True),
                                name="outbox_due_not_done")]

    def __str__(self) -> str:
        return f"{self.task_name}{tuple(self.args)} #{self.pk}"


# --- Reading the ID card (customers/ocr) -------------------------------------------------------------

class IdCardReadingStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    READING = "reading", _("Reading")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class IdCardReading(models.Model):
    """What OCR read from an uploaded ID card photo (front or back; customers/ocr). One per document.

    `fields` holds what was read (front: name, sex, ethnicity, date_of_birth, address, id_number; back:
    authority, valid_from, valid_until, valid_indefinitely), `confidence` the engine's confidence per
    field (0-1). Nothing here changes the profile: the customer confirms the values in the personal step.
    A failed reading keeps no fields, only the reason (`error_message`, an English msgid shown translated).
    """

    document = models.OneToOneField(CustomerDocument, on_delete=models.CASCADE, related_name="id_card_reading",
                                    verbose_name=_("document"))
    side = models.CharField(_("side"), max_length=5, choices=[("front", _("front")), ("back", _("back"))])
    status = models.CharField(_("status"), max_length=8, choices=IdCardReadingStatus,
                              default=IdCardReadingStatus.QUEUED, db_index=True)
    fields = models.JSONField(_("fields read"), default=dict, blank=True)
    confidence = models.JSONField(_("confidence per field"), default=dict, blank=True)
    error_code = models.CharField(_("error code"), max_length=32, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    engine = models.CharField(_("engine"), max_length=40, blank=True)
    seconds = models.FloatField(_("seconds to read"), null=True, blank=True)
    created_at = models.DateTimeField(_("queued"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("ID card reading")
        verbose_name_plural = _("ID card readings")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(status="failed") | ~models.Q(error_message=""),
                                   name="id_card_reading_failure_has_message"),
        ]

    def __str__(self) -> str:
        return f"{self.document} {self.side} {self.status}"

    @property
    def in_progress(self) -> bool:
        return self.status in (IdCardReadingStatus.QUEUED, IdCardReadingStatus.READING)
