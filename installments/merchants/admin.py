"""Merchants in the admin (installments/admin.py imports this module): onboarding and changes go
through the services, so the licence number is checked and only the account's last 4 digits kept."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from config.errors import DomainError
from installments.merchants import services
from installments.merchants.models import Basket, BasketLine, Good, Merchant, MerchantUser
from installments.merchants.uscc import uscc_normalise, uscc_problem


class MerchantAdminForm(forms.ModelForm):
    account_number = forms.CharField(label=_("Settlement account number"), required=False, max_length=40,
                                     help_text=_("Only the last 4 digits are kept; leave empty to keep the account."))

    class Meta:
        model = Merchant
        fields = ["legal_name", "licence_number", "bank_name", "account_number", "products", "discount_rate",
                  "pays_interest", "promo_max_term_months", "status"]

    def clean_licence_number(self):
        code = uscc_normalise(self.cleaned_data["licence_number"])
        if uscc_problem(code):
            raise ValidationError(_("This unified social credit code is not valid: its check character does not "
                                    "match."))
        return code

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("account_number") or self.instance.pk is None:
            try:
                services._account_last4(cleaned.get("account_number") or "")
            except DomainError as error:
                self.add_error("account_number", error.message)
        if cleaned.get("pays_interest") and not cleaned.get("promo_max_term_months"):
            self.add_error("promo_max_term_months", _("A 0% promotion paid by the merchant needs its longest term."))
        return cleaned


class GoodInline(admin.TabularInline):
    model = Good
    extra = 0
    fields = ["name", "category", "price", "is_active"]


class MerchantUserInline(admin.TabularInline):
    model = MerchantUser
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    form = MerchantAdminForm
    list_display = ["legal_name", "licence_number", "bank_name", "account_masked", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["legal_name", "licence_number"]
    filter_horizontal = ["products"]
    inlines = [MerchantUserInline, GoodInline]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fields = {"legal_name": data["legal_name"], "licence_number": data["licence_number"],
                  "bank_name": data["bank_name"], "account_number": data.get("account_number") or "",
                  "products": list(data["products"]), "discount_rate": data["discount_rate"],
                  "pays_interest": data["pays_interest"], "promo_max_term_months": data["promo_max_term_months"]}
        try:
            if change:
                saved = services.merchant_update(merchant=obj, by=request.user, **fields)
                if data["status"] != saved.status:
                    services.merchant_set_status(merchant=saved, status=data["status"], by=request.user)
            else:
                saved = services.merchant_onboard(by=request.user, **fields)
        except DomainError as error:
            raise ValidationError({error.field or "__all__": error.message})
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        for formset in formsets:  # the products are set by the service
            self.save_formset(request, form, formset, change=change)


class BasketLineInline(admin.TabularInline):
    model = BasketLine
    extra = 0
    can_delete = False
    readonly_fields = ["good", "name", "unit_price", "quantity", "line_total"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Basket)
class BasketAdmin(admin.ModelAdmin):
    list_display = ["pk", "merchant", "reference", "total", "amount_financed", "state", "created_at", "application"]
    list_filter = ["state"]
    search_fields = ["reference", "merchant__legal_name", "application__number"]
    inlines = [BasketLineInline]
    readonly_fields = [f.name for f in Basket._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
