from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from config.errors import DomainError
from customers import national_id, services, two_factor
from customers.models import (
    AssetLine,
    AuditEvent,
    Consent,
    CustomerDocument,
    CustomerProfile,
    DebtLine,
    ExpenseLine,
    IncomeLine,
    InterviewNote,
    OutboxTask,
    ReviewState,
    SpendingCategoryRule,
    StatementSummary,
    User,
)
from customers.pii import search_hash
from customers.selectors import can_open_customer_file


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "roles", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "groups", "preferred_language"]
    search_fields = ["email", "full_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("full_name", "preferred_language")}),
        (_("Roles and permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),)
    actions = ["two_factor_links", "two_factor_reset"]

    @admin.action(description=_("Issue two-factor enrolment links"), permissions=["change"])
    def two_factor_links(self, request, queryset):
        """One-time enrolment links for the selected users (customers.two_factor), shown once, audited."""
        links = [(user, two_factor.enrolment_link_issue(user=user, by=request.user, request=request))
                 for user in queryset]
        return TemplateResponse(request, "two_factor/links.html", {
            **self.admin_site.each_context(request), "title": _("Two-factor enrolment links"), "links": links,
            "ttl_hours": settings.TWO_FACTOR_ENROLMENT_LINK_TTL // 3600})

    @admin.action(description=_("Reset two-factor authentication (and revoke API tokens)"), permissions=["change"])
    def two_factor_reset(self, request, queryset):
        for user in queryset:
            two_factor.two_factor_reset(user=user, by=request.user, request=request, reason="admin site")
        self.message_user(request, _("Two-factor reset for %(count)s users: issue each a new enrolment link.")
                          % {"count": queryset.count()}, messages.SUCCESS)

    @admin.display(description=_("roles"))
    def roles(self, obj: User) -> str:
        return ", ".join(sorted(g.name for g in obj.groups.all()))

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "target_repr", "from_state", "to_state", "reason"]
    list_filter = ["action", "target_type", "created_at"]
    search_fields = ["target_repr", "reason", "actor__email", "target_id"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "target_type"]

    # The audit trail is append-only, even for admins.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- The customer profile ---------------------------------------------------------------------------
# Changes made here go through the same services as the pages and the API (validation, history).
# The ID number is only ever shown masked; the full number is revealed on the staff page, audited.

class ProfileAdminForm(forms.ModelForm):
    class Meta:
        model = CustomerProfile
        fields = [f for f in services.PROFILE_FIELDS if f != "id_number"]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and not self.errors:
            data = {f: cleaned.get(f) for f in self.changed_data if f in services.PROFILE_FIELDS}
            try:
                services.profile_validate(profile=self.instance, data=data)
            except DomainError as error:
                self.add_error(error.field if error.field in self.fields else None, error.message)
        return cleaned


def _line_inline(line_type: str) -> type[admin.TabularInline]:
    return type(f"{line_type.title()}LineInline", (admin.TabularInline,), {
        "model": services.LINE_MODELS[line_type], "fields": services.LINE_FIELDS[line_type], "extra": 0,
    })


class InterviewNoteInline(admin.StackedInline):
    model = InterviewNote
    extra = 0
    fields = ["created_at", "author", "stability_rating", "willingness_rating", "text"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CustomerProfile)
class CustomerProfileAdmin(admin.ModelAdmin):
    form = ProfileAdminForm
    list_display = ["full_name", "id_number_masked", "phone", "city", "employment_type", "housing", "updated_at"]
    list_filter = ["id_type", "employment_type", "housing", "marital_status", "education", "occupation", "province"]
    search_fields = ["full_name", "phone", "email", "user__email"]
    search_help_text = _("Name, phone or e-mail; an exact ID number also matches.")
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    readonly_fields = ["user", "id_number_masked", "created_at", "updated_at", *services.REPAYMENT_RECORD_FIELDS]
    fieldsets = (
        (None, {"fields": ("user", "full_name", "id_type", "id_number_masked", "date_of_birth", "sex")}),
        (_("Contact"), {"fields": ("phone", "email", "province", "city", "district", "street", "postcode")}),
        (_("Background"), {"fields": ("occupation", "occupation_other", "employer", "employment_type", "years_in_job",
                                      "education", "marital_status", "dependants", "housing")}),
        (_("Credit history"), {"fields": ("number_of_existing_credits", "past_delinquencies",
                                          *services.REPAYMENT_RECORD_FIELDS)}),
        (_("Record"), {"fields": ("created_at", "updated_at")}),
    )
    inlines = [*(_line_inline(t) for t in services.LINE_MODELS), InterviewNoteInline]

    def has_add_permission(self, request) -> bool:
        return False  # profiles are created by the customer (page or API), with their ID number

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        number = national_id.normalise(search_term)
        if len(number) >= 6:
            results |= queryset.filter(id_number_hash=search_hash(number))
        return results, may_have_duplicates

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in form.changed_data if f in services.PROFILE_FIELDS}
        services.profile_update(profile=obj, data=data, by=request.user)

    def save_formset(self, request, form, formset, change):
        line_type = next((t for t, m in services.LINE_MODELS.items() if m is formset.model), None)
        if line_type is None:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)  # fills new/changed/deleted_objects without writing
        for line in formset.deleted_objects:
            services.finance_line_remove(line=line, by=request.user)
        for line, changed in formset.changed_objects:
            services.finance_line_update(line=line, data={f: getattr(line, f) for f in changed}, by=request.user)
        for line in formset.new_objects:
            services.finance_line_add(profile=form.instance, line_type=line_type, by=request.user,
                                      data={f: getattr(line, f) for f in services.LINE_FIELDS[line_type]})


class _ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by services only; the admin shows and searches them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _line_admin(model, extra_columns: list[str], filters: list[str]) -> None:
    admin.site.register(model, type(f"{model.__name__}Admin", (_ReadOnlyAdmin,), {
        "list_display": ["profile", *extra_columns, "updated_at"],
        "list_filter": filters,
        "search_fields": ["profile__full_name", "description"],
        "list_select_related": ["profile"],
    }))


_line_admin(IncomeLine, ["source", "monthly_amount"], ["source"])
_line_admin(ExpenseLine, ["category", "monthly_amount"], ["category"])
_line_admin(DebtLine, ["lender", "kind", "outstanding_balance", "monthly_payment"], ["kind"])
_line_admin(AssetLine, ["kind", "value"], ["kind"])


@admin.register(CustomerDocument)
class CustomerDocumentAdmin(_ReadOnlyAdmin):
    list_display = ["original_filename", "profile", "kind", "review_state", "size_bytes", "uploaded_at", "reviewed_by"]
    list_filter = ["kind", "review_state", "uploaded_at"]
    search_fields = ["original_filename", "profile__full_name", "sha256"]
    list_select_related = ["profile", "reviewed_by"]
    date_hierarchy = "uploaded_at"
    exclude = ["file"]  # its storage name is not a URL; the download link goes through the checked view
    readonly_fields = ["download"]
    actions = ["mark_verified"]

    @admin.display(description=_("download"))
    def download(self, obj: CustomerDocument) -> str:
        return format_html('<a href="{}">{}</a>', reverse("document_download", args=[obj.pk]), obj.original_filename)

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and can_open_customer_file(request.user)  # the list and its action only

    @admin.action(description=_("Mark selected documents verified"))
    def mark_verified(self, request, queryset):
        done = 0
        for document in queryset.exclude(review_state=ReviewState.VERIFIED):
            try:
                services.document_review(document=document, to=ReviewState.VERIFIED, by=request.user)
                done += 1
            except DomainError as error:
                self.message_user(request, f"{document}: {error.message}", messages.ERROR)
        self.message_user(request, _("%(count)s documents verified.") % {"count": done}, messages.SUCCESS)


@admin.register(StatementSummary)
class StatementSummaryAdmin(_ReadOnlyAdmin):
    list_display = ["profile", "period_start", "period_end", "months_covered", "average_monthly_inflow",
                    "average_monthly_outflow", "income_volatility", "overdraft_days", "imported_at"]
    list_filter = ["imported_at", "months_covered"]
    search_fields = ["profile__full_name", "original_filename"]
    list_select_related = ["profile"]


@admin.register(SpendingCategoryRule)
class SpendingCategoryRuleAdmin(admin.ModelAdmin):
    list_display = ["keyword", "category", "is_active"]
    list_editable = ["category", "is_active"]
    list_filter = ["category", "is_active"]
    search_fields = ["keyword"]


@admin.register(InterviewNote)
class InterviewNoteAdmin(_ReadOnlyAdmin):
    list_display = ["profile", "author", "stability_rating", "willingness_rating", "created_at"]
    list_filter = ["stability_rating", "willingness_rating", "created_at"]
    search_fields = ["profile__full_name", "text", "author__email"]
    list_select_related = ["profile", "author"]


@admin.register(Consent)
class ConsentAdmin(_ReadOnlyAdmin):
    list_display = ["user", "kind", "text_version", "granted_at", "withdrawn_at", "ip_address"]
    list_filter = ["kind", "text_version", ("withdrawn_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "user__full_name"]
    list_select_related = ["user"]


# --- Customer self-service -------------------------------------------------------------------------

from customers.models import ApplicationDraft, SatisfactionRating  # noqa: E402


@admin.register(ApplicationDraft)
class ApplicationDraftAdmin(_ReadOnlyAdmin):
    list_display = ["user", "application", "current_step", "furthest_step", "updated_at", "submitted_at",
                    "discarded_at"]
    list_filter = ["current_step", ("submitted_at", admin.EmptyFieldListFilter),
                   ("discarded_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "user__full_name", "application__number"]
    list_select_related = ["user", "application"]


@admin.register(SatisfactionRating)
class SatisfactionRatingAdmin(_ReadOnlyAdmin):
    list_display = ["created_at", "user", "application", "moment", "rating", "comment"]
    list_filter = ["moment", "rating", "created_at", "application__product"]
    search_fields = ["user__email", "user__full_name", "application__number", "comment"]
    list_select_related = ["user", "application"]
    date_hierarchy = "created_at"


@admin.register(OutboxTask)
class OutboxTaskAdmin(_ReadOnlyAdmin):
    """Queued Celery work (customers/outbox.py): read-only; what is not done is resent by the dispatcher."""

    list_display = ("pk", "task_name", "created_at", "dispatched_at", "done_at", "attempts", "due_at")
    list_filter = ("task_name", ("done_at", admin.EmptyFieldListFilter))
    search_fields = ("task_name", "last_error")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in OutboxTask._meta.fields]
