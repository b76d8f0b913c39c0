"""Admin for servicing and collections: configuration (policies, buckets, reminder rules, assignment
rules) is edited here; operational rows are read-mostly (changes go through the services)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

from collections_app.ledger import chart
from collections_app.ledger.models import (
    AccountingPeriod,
    AccountMapping,
    ChartChangeRequest,
    JournalEntry,
    JournalLine,
    LedgerAccount,
)
from collections_app.models import (
    AssignmentRule,
    CaseNote,
    CobRun,
    CollectionCase,
    ContactLog,
    DelinquencyBucket,
    InstallmentCharge,
    Payment,
    PaymentAllocation,
    PaymentIntent,
    PlanSnapshot,
    PromiseToPay,
    Reminder,
    ReminderRule,
    ServicingPolicy,
    ServicingRequest,
)
from config.errors import DomainError
from customers.roles import Role


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by services and the close of business: visible and searchable, never edited here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ServicingPolicy)
class ServicingPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "allocation_mode", "allocation_order", "late_fee_grace_days", "approval_threshold"]


@admin.register(DelinquencyBucket)
class DelinquencyBucketAdmin(admin.ModelAdmin):
    list_display = ["code", "label", "label_zh", "min_days", "max_days", "term_class"]


@admin.register(ReminderRule)
class ReminderRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "offset_days", "channel", "template_key", "escalation_level", "is_active"]
    list_filter = ["channel", "is_active", "template_key"]
    list_editable = ["is_active"]


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(admin.ModelAdmin):
    list_display = ["bucket", "collector", "is_active"]
    list_filter = ["bucket", "is_active"]
    autocomplete_fields = ["collector"]


@admin.register(CobRun)
class CobRunAdmin(ReadOnlyAdmin):
    list_display = ["business_date", "status", "duration_ms", "attempts", "triggered_by", "finished_at"]
    list_filter = ["status"]
    date_hierarchy = "business_date"


class AllocationInline(admin.TabularInline):
    model = PaymentAllocation
    extra = 0
    can_delete = False
    readonly_fields = ["installment", "component", "amount"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["id", "plan", "amount", "received_on", "channel", "state", "reference", "created_by"]
    list_filter = ["channel", "state", "overpayment"]
    search_fields = ["plan__number", "reference", "idempotency_key"]
    date_hierarchy = "received_on"
    inlines = [AllocationInline]


@admin.register(PaymentIntent)
class PaymentIntentAdmin(ReadOnlyAdmin):
    """Customers' payments through the provider; `failed` ones (money taken, plan refused it) need staff."""

    list_display = ["plan", "amount", "currency", "status", "provider", "provider_transaction_id", "test_mode",
                    "payment", "created_at"]
    list_filter = ["status", "provider", "test_mode"]
    search_fields = ["plan__number", "provider_transaction_id", "idempotency_key"]
    raw_id_fields = ["plan", "customer", "payment"]


@admin.register(InstallmentCharge)
class InstallmentChargeAdmin(ReadOnlyAdmin):
    list_display = ["installment", "late_fee_charged", "late_fee_on", "penalty_interest", "accrued_through"]
    search_fields = ["plan__number"]


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ["scheduled_for", "customer", "plan", "rule", "channel", "status", "attempts", "sent_at"]
    list_filter = ["status", "channel", "rule"]
    search_fields = ["plan__number", "customer__email", "recipient"]
    date_hierarchy = "scheduled_for"


class ContactInline(admin.TabularInline):
    model = ContactLog
    extra = 0
    fields = ["contacted_at", "by", "channel", "outcome", "reason_category", "employed", "notes"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CollectionCase)
class CollectionCaseAdmin(admin.ModelAdmin):
    list_display = ["id", "plan", "status", "bucket", "days_past_due", "amount_overdue", "priority", "assigned_to"]
    list_filter = ["status", "bucket", "assignment_locked"]
    search_fields = ["plan__number", "plan__customer__email", "plan__customer__full_name"]
    readonly_fields = ["plan", "opened_on", "closed_on", "close_reason", "bucket", "days_past_due", "amount_overdue",
                       "broken_promises", "risk_pd", "priority", "last_contact_at"]
    autocomplete_fields = ["assigned_to"]
    inlines = [ContactInline]


@admin.register(PromiseToPay)
class PromiseToPayAdmin(ReadOnlyAdmin):
    list_display = ["plan", "amount", "promised_date", "state", "created_by", "resolved_on"]
    list_filter = ["state"]
    search_fields = ["plan__number"]


@admin.register(ContactLog)
class ContactLogAdmin(ReadOnlyAdmin):
    list_display = ["contacted_at", "case", "by", "channel", "outcome", "reason_category", "employed"]
    list_filter = ["channel", "outcome", "reason_category"]


@admin.register(CaseNote)
class CaseNoteAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "case", "author"]


@admin.register(ServicingRequest)
class ServicingRequestAdmin(ReadOnlyAdmin):
    list_display = ["requested_at", "plan", "kind", "origin", "status", "amount", "requested_by", "decided_by"]
    list_filter = ["kind", "status", "origin"]
    search_fields = ["plan__number"]


@admin.register(PlanSnapshot)
class PlanSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["business_date", "plan", "state", "days_past_due", "bucket", "term_class",
                    "principal_outstanding", "amount_overdue"]
    list_filter = ["bucket", "term_class", "state"]
    search_fields = ["plan__number"]
    date_hierarchy = "business_date"


# --- The books (collections_app.ledger) --------------------------------------------------------------
# Only administrators change the chart of accounts, through a change request another administrator
# approves (four-eyes); periods are closed through the service (audited);
# entries and lines are immutable and only shown.

def _is_admin(request) -> bool:
    user = request.user
    return bool(user.is_active and (user.is_superuser or user.has_role(Role.ADMIN)))


@admin.register(LedgerAccount)
class LedgerAccountAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "name_zh", "kind", "normal_side", "channel", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["code", "name", "name_zh", "channel"]
    ordering = ["code"]

    def has_view_permission(self, request, obj=None):
        return _is_admin(request) or super().has_view_permission(request, obj)

    # Changes go through ChartChangeRequest (four-eyes), never straight into the chart.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate through a change request: lines PROTECT their account


@admin.register(AccountMapping)
class AccountMappingAdmin(ReadOnlyAdmin):
    list_display = ["role", "product", "account"]
    list_filter = ["role"]
    list_select_related = ["product", "account"]

    def has_view_permission(self, request, obj=None):
        return _is_admin(request) or super().has_view_permission(request, obj)


class ChartChangeRequestForm(forms.ModelForm):
    """The proposal form: the details are checked by the service's rules, errors shown on the form."""

    class Meta:
        model = ChartChangeRequest
        fields = ["kind", "params", "reason"]
        help_texts = {"params": _(
            'JSON. Add an account: {"code": "4105", "name": "...", "kind": "income", "name_zh": "..."}; '
            'change one: {"code": "4105", "name": "...", "is_active": false}; map a role: '
            '{"role": "interest_income", "product": null, "account": "4105"}.')}

    def clean(self):
        cleaned = super().clean()
        if "kind" in cleaned and "params" in cleaned:
            try:
                cleaned["params"] = chart.chart_change_validate(kind=cleaned["kind"], params=cleaned["params"])
            except DomainError as error:
                field = error.field if error.field in ("kind", "params", "reason") else None
                raise forms.ValidationError({field or "params": f"{error.field}: {error.message}"})
        return cleaned


@admin.register(ChartChangeRequest)
class ChartChangeRequestAdmin(admin.ModelAdmin):
    """An administrator proposes (the add form); a different administrator approves or rejects (actions)."""

    form = ChartChangeRequestForm
    list_display = ["requested_at", "kind", "params", "reason", "status", "requested_by", "decided_by", "decided_at"]
    list_filter = ["status", "kind"]
    readonly_fields = ["status", "requested_by", "requested_at", "decided_by", "decided_at", "decision_note"]
    actions = ["approve_changes", "reject_changes"]

    def has_view_permission(self, request, obj=None):
        return _is_admin(request)

    def has_add_permission(self, request):
        return _is_admin(request)

    def has_change_permission(self, request, obj=None):
        return False  # a proposal is decided, never edited

    def has_delete_permission(self, request, obj=None):
        return False

    def has_decide_permission(self, request):
        return _is_admin(request)

    def save_model(self, request, obj, form, change):
        try:
            created = chart.chart_change_request(kind=obj.kind, params=obj.params, reason=obj.reason, by=request.user)
        except DomainError as error:  # re-checked in the service; the form has already shown most errors
            raise PermissionDenied(error.message)
        obj.pk, obj.params, obj.status = created.pk, created.params, created.status
        obj.requested_by, obj.requested_at = created.requested_by, created.requested_at

    def _decide(self, request, queryset, approve: bool):
        for change in queryset.order_by("pk"):
            try:
                decided = chart.chart_change_decide(change=change, by=request.user, approve=approve)
            except DomainError as error:
                self.message_user(request, f"#{change.pk} {change}: {error.message}", level=messages.ERROR)
            else:
                self.message_user(request, f"#{decided.pk} {decided}", level=messages.SUCCESS)

    @admin.action(description=_("Approve and apply the selected changes"), permissions=["decide"])
    def approve_changes(self, request, queryset):
        self._decide(request, queryset, approve=True)

    @admin.action(description=_("Reject the selected changes"), permissions=["decide"])
    def reject_changes(self, request, queryset):
        self._decide(request, queryset, approve=False)


@admin.register(AccountingPeriod)
class AccountingPeriodAdmin(ReadOnlyAdmin):
    list_display = ["month", "closed_at", "closed_by"]


class JournalLineInline(admin.TabularInline):
    model = JournalLine
    fields = ["account", "debit", "credit", "plan"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "value_date", "event_type", "plan", "source_type", "source_id", "actor", "booked_at"]
    list_filter = ["event_type", "value_date"]
    search_fields = ["=id", "source_id", "memo"]
    raw_id_fields = ["plan", "reverses", "actor"]
    inlines = [JournalLineInline]


@admin.register(JournalLine)
class JournalLineAdmin(ReadOnlyAdmin):
    list_display = ["id", "entry", "account", "debit", "credit", "plan"]
    list_filter = ["account"]
    raw_id_fields = ["entry", "plan"]
