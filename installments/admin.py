"""Admin for every installments model. Products and policies are edited here; applications,
offers, contracts, plans and schedules are the record of what happened and are read-only
(their changes go through the services, with the audit trail)."""

from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.errors import DomainError
from installments.models import (
    METHOD_CHOICES,
    Application,
    ApplicationNotice,
    Contract,
    CreditPolicy,
    Installment,
    LoanProduct,
    Offer,
    Plan,
    PriceTier,
    ScheduleVersion,
)
from installments.origination import applications as services


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, searchable and filterable; never added, changed or deleted here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- Products and policy (edited here) ---------------------------------------------------------------

class LoanProductForm(forms.ModelForm):
    allowed_methods = forms.MultipleChoiceField(
        label=_("allowed plan types"), choices=METHOD_CHOICES, required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked means every plan type."))

    class Meta:
        model = LoanProduct
        fields = [f.name for f in LoanProduct._meta.fields if f.editable and not f.primary_key]


class PriceTierInline(admin.TabularInline):
    model = PriceTier
    extra = 0
    max_num = 7
    fields = ["grade", "annual_rate", "max_amount", "max_term_months"]
    ordering = ["grade"]


@admin.register(LoanProduct)
class LoanProductAdmin(admin.ModelAdmin):
    form = LoanProductForm
    inlines = [PriceTierInline]
    list_display = ["code", "name", "currency", "min_amount", "max_amount", "min_term_months", "max_term_months",
                    "upfront_fee_rate", "monthly_fee", "max_apr", "promo_max_term_months", "is_active"]
    list_filter = ["is_active", "currency", "upfront_fee_financed"]
    search_fields = ["code", "name", "name_zh", "description"]
    prepopulated_fields = {"code": ["name"]}
    fieldsets = (
        (None, {"fields": ("code", "name", "name_zh", "description", "is_active")}),
        (_("Range"), {"fields": ("currency", "currency_decimals", "min_amount", "max_amount", "min_term_months",
                                 "max_term_months", "allowed_methods")}),
        (_("Fees and cap"), {"fields": ("upfront_fee_rate", "upfront_fee_financed", "monthly_fee", "max_apr",
                                        "promo_max_term_months", "promo_monthly_fee_rate")}),
        (_("Affordability limits"), {"fields": ("max_payment_to_income", "max_debt_service_ratio")}),
        (_("Early payoff and late charges"), {"fields": ("early_payoff_rebate", "early_payoff_fee_rate",
                                                         "early_payoff_discount_rate", "early_payoff_discount_months",
                                                         "late_fee_flat", "penalty_rate")}),
    )


@admin.register(PriceTier)
class PriceTierAdmin(admin.ModelAdmin):
    list_display = ["product", "grade", "annual_rate", "max_amount", "max_term_months"]
    list_filter = ["product", "grade"]
    search_fields = ["product__code", "product__name"]
    list_select_related = ["product"]


class CreditPolicyForm(forms.ModelForm):
    class Meta:
        model = CreditPolicy
        fields = list(services.CREDIT_POLICY_FIELDS)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            services.credit_policy_check(**{f: cleaned.get(f) for f in services.CREDIT_POLICY_FIELDS},
                                         exclude_pk=self.instance.pk)
        except DomainError as error:
            raise forms.ValidationError({error.field: error.message} if error.field in self.fields
                                        else error.message)
        return cleaned

    def validate_unique(self):
        """credit_policy_check names the clashing date in words."""


@admin.register(CreditPolicy)
class CreditPolicyAdmin(admin.ModelAdmin):
    """A stance is added (through the service, audited) and may be changed until it takes effect."""

    form = CreditPolicyForm
    list_display = ["effective_from", "name", "product", "rate_adjustment", "max_amount_factor", "max_term_months",
                    "cutoff_grade", "created_by", "created_at"]
    list_filter = ["product", "cutoff_grade", "effective_from"]
    search_fields = ["name", "reason", "product__code"]
    date_hierarchy = "effective_from"
    list_select_related = ["product", "created_by"]

    def in_force_or_past(self, obj) -> bool:
        return obj is not None and obj.effective_from <= timezone.localdate()

    def get_readonly_fields(self, request, obj=None):
        if self.in_force_or_past(obj):
            return [*services.CREDIT_POLICY_FIELDS, "created_by", "created_at"]
        return ["created_by", "created_at"]

    def has_change_permission(self, request, obj=None) -> bool:
        return not self.in_force_or_past(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return obj is not None and not self.in_force_or_past(obj) and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        fields = {f: form.cleaned_data.get(f) for f in services.CREDIT_POLICY_FIELDS}
        if change:
            services.credit_policy_update(policy=obj, by=request.user, **fields)
        else:
            obj.pk = services.credit_policy_create(by=request.user, **fields).pk
            obj.refresh_from_db()


# --- The record of origination and servicing (read-only) ---------------------------------------------

class OfferInline(ReadOnlyInline):
    model = Offer
    fields = ["rank", "method", "term_months", "amount", "installment", "total_payable", "apr", "grade", "chosen_at"]
    ordering = ["rank"]


@admin.register(Application)
class ApplicationAdmin(ReadOnlyAdmin):
    list_display = ["number", "customer", "product", "amount", "term_months", "preferred_method", "state",
                    "assigned_officer", "submitted_at", "decided_at"]
    list_filter = ["state", "product", "purpose", "income_pattern", "preferred_method", "submitted_at"]
    search_fields = ["number", "customer__email", "customer__full_name"]
    date_hierarchy = "created_at"
    list_select_related = ["customer", "product", "assigned_officer"]
    inlines = [OfferInline]


@admin.register(Offer)
class OfferAdmin(ReadOnlyAdmin):
    list_display = ["application", "rank", "method", "term_months", "amount", "installment", "total_interest",
                    "total_fees", "total_payable", "apr", "grade", "is_counter_offer", "chosen_at"]
    list_filter = ["method", "grade", "is_counter_offer", ("chosen_at", admin.EmptyFieldListFilter),
                   "credit_policy", "created_at"]
    search_fields = ["application__number", "application__customer__email"]
    date_hierarchy = "created_at"
    list_select_related = ["application"]


@admin.register(Contract)
class ContractAdmin(ReadOnlyAdmin):
    list_display = ["application", "version", "offer", "language", "created_by", "created_at", "accepted_at"]
    list_filter = ["language", ("accepted_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["application__number", "content_sha256", "application__customer__email"]
    date_hierarchy = "created_at"
    list_select_related = ["application", "offer", "created_by"]


class ScheduleVersionInline(ReadOnlyInline):
    model = ScheduleVersion
    fields = ["version", "reason", "created_by", "created_at"]


@admin.register(Plan)
class PlanAdmin(ReadOnlyAdmin):
    list_display = ["number", "customer", "product", "method", "principal", "annual_rate", "disbursement_date",
                    "state", "days_past_due", "bucket", "current_version"]
    list_filter = ["state", "bucket", "product", "method", "disbursement_date"]
    search_fields = ["number", "application__number", "customer__email", "customer__full_name"]
    date_hierarchy = "disbursement_date"
    list_select_related = ["customer", "product"]
    inlines = [ScheduleVersionInline]


class InstallmentInline(ReadOnlyInline):
    model = Installment
    fields = ["number", "due_date", "principal_due", "interest_due", "fee_due", "penalty_due", "status",
              "days_past_due"]
    show_change_link = False


@admin.register(ScheduleVersion)
class ScheduleVersionAdmin(ReadOnlyAdmin):
    list_display = ["plan", "version", "reason", "created_by", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["plan__number", "reason"]
    list_select_related = ["plan", "created_by"]
    inlines = [InstallmentInline]


@admin.register(Installment)
class InstallmentAdmin(ReadOnlyAdmin):
    list_display = ["plan", "version", "number", "due_date", "principal_due", "interest_due", "fee_due",
                    "penalty_due", "status", "days_past_due", "paid_at"]
    list_filter = ["status", "due_date"]
    search_fields = ["plan__number", "plan__customer__email"]
    date_hierarchy = "due_date"
    list_select_related = ["plan", "version"]


# --- The staff workbench: decision policy (edited here), document requests and decisions (the record) ---

from customers.audit import audit_record  # noqa: E402
from installments.models import Decision, DecisionPolicy, DocumentRequest  # noqa: E402


class DecisionPolicyForm(forms.ModelForm):
    class Meta:
        model = DecisionPolicy
        fields = ["effective_from", "four_eyes_amount", "review_sla_hours", "max_rate_discount", "reason"]

    def clean_effective_from(self):
        value = self.cleaned_data["effective_from"]
        if value < timezone.localdate():
            raise forms.ValidationError(_("A policy cannot start in the past; choose today or a later date."))
        return value


@admin.register(DecisionPolicy)
class DecisionPolicyAdmin(admin.ModelAdmin):
    """Four-eyes amount, review time limit and counter-offer discount from a date; a policy already
    in force is never rewritten (add a new one), and every change is audited."""

    form = DecisionPolicyForm
    list_display = ["effective_from", "four_eyes_amount", "review_sla_hours", "max_rate_discount", "created_by",
                    "created_at"]
    search_fields = ["reason"]
    date_hierarchy = "effective_from"
    readonly_fields = ["created_by", "created_at"]

    def _in_force(self, obj) -> bool:
        return obj is not None and obj.effective_from <= timezone.localdate()

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and not self._in_force(obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not self._in_force(obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        audit_record(actor=request.user, action="decision_policy.update" if change else "decision_policy.create",
                     target=obj, reason=obj.reason,
                     data={key: str(form.cleaned_data[key]) for key in form.changed_data})


@admin.register(DocumentRequest)
class DocumentRequestAdmin(ReadOnlyAdmin):
    list_display = ["application", "kinds", "requested_by", "requested_at", "resolved_at"]
    list_filter = ["requested_at", "resolved_at"]
    search_fields = ["application__number", "message", "application__customer__email"]
    list_select_related = ["application", "requested_by"]
    date_hierarchy = "requested_at"


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ["application", "kind", "status", "recommendation", "is_override", "decided_by", "decided_at",
                    "confirmed_by", "confirmed_at"]
    list_filter = ["kind", "status", "recommendation", "is_override", "decided_at"]
    search_fields = ["application__number", "note", "override_reason", "decided_by__email", "confirmed_by__email"]
    list_select_related = ["application", "decided_by", "confirmed_by"]
    date_hierarchy = "decided_at"


# --- Management analytics: summary tables and experiments ------------------------------------------

from installments.models import Experiment, ExperimentAssignment, KpiSnapshot, SegmentSummary  # noqa: E402


@admin.register(KpiSnapshot)
class KpiSnapshotAdmin(ReadOnlyAdmin):
    """Written only by the refresh job (dashboard_services.summaries_refresh)."""

    list_display = ["range_kind", "product", "period_start", "period_end", "computed_at", "duration_ms"]
    list_filter = ["range_kind", "product"]
    list_select_related = ["product"]


@admin.register(SegmentSummary)
class SegmentSummaryAdmin(ReadOnlyAdmin):
    list_display = ["range_kind", "product", "dimension", "computed_at"]
    list_filter = ["range_kind", "dimension", "product"]
    list_select_related = ["product"]


@admin.register(Experiment)
class ExperimentAdmin(ReadOnlyAdmin):
    """Defined, started and stopped on the dashboard (the services audit every change); kept forever."""

    list_display = ["key", "name", "product", "rate_adjustment", "default_term_months", "ratio", "state",
                    "started_at", "stopped_at"]
    list_filter = ["state", "product"]
    search_fields = ["key", "name", "hypothesis"]
    list_select_related = ["product"]
    date_hierarchy = "created_at"


@admin.register(ExperimentAssignment)
class ExperimentAssignmentAdmin(ReadOnlyAdmin):
    list_display = ["experiment", "customer", "arm", "application", "assigned_at"]
    list_filter = ["arm", "experiment"]
    search_fields = ["experiment__key", "customer__email", "application__number"]
    list_select_related = ["experiment", "customer", "application"]
    date_hierarchy = "assigned_at"


@admin.register(ApplicationNotice)
class ApplicationNoticeAdmin(ReadOnlyAdmin):
    """The e-mails customers were sent about their applications, with delivery status."""

    list_display = ["application", "kind", "language", "recipient", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["kind", "status", "language"]
    search_fields = ["application__number", "recipient", "subject"]
    date_hierarchy = "created_at"


from installments.merchants import admin as merchants_admin  # noqa: E402, F401  (merchants, issue #20)
