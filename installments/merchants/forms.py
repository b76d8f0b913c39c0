"""Forms of the merchant pages: onboarding (staff), the catalogue and its CSV import, a basket."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from installments.merchants.models import Merchant
from installments.models import Application, LoanProduct

MAX_IMPORT_BYTES = 1024 * 1024


class MerchantForm(forms.Form):
    legal_name = forms.CharField(label=_("Legal name"), max_length=200)
    licence_number = forms.CharField(label=_("Unified social credit code"), max_length=18, min_length=18,
                                     help_text=_("18 characters, on the business licence (GB 32100-2015)."))
    bank_name = forms.CharField(label=_("Settlement bank"), max_length=120)
    account_number = forms.CharField(
        label=_("Settlement account number"), max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
        help_text=_("Only the last 4 digits are kept."))
    products = forms.ModelMultipleChoiceField(label=_("Products sold on installments"), queryset=None,
                                              widget=forms.CheckboxSelectMultiple)
    discount_rate = forms.DecimalField(label=_("Merchant discount rate (% of the amount financed)"), max_digits=7,
                                       decimal_places=4, initial=Decimal("0"))
    pays_interest = forms.BooleanField(label=_("The merchant pays the interest (0% promotion)"), required=False)
    promo_max_term_months = forms.IntegerField(label=_("0% promotion: longest term (months)"), min_value=0,
                                               max_value=360, initial=0, required=False)

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["products"].queryset = LoanProduct.objects.filter(is_active=True).order_by("code")
        if editing:
            self.fields["account_number"].required = False
            self.fields["account_number"].help_text = _("Leave empty to keep the account ending %(last4)s.") % {
                "last4": self.initial.get("account_last4", "")}

    @staticmethod
    def initial_from(merchant: Merchant) -> dict:
        return {"legal_name": merchant.legal_name, "licence_number": merchant.licence_number,
                "bank_name": merchant.bank_name, "products": list(merchant.products.all()),
                "discount_rate": merchant.discount_rate, "pays_interest": merchant.pays_interest,
                "promo_max_term_months": merchant.promo_max_term_months, "account_last4": merchant.account_last4}

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        data["promo_max_term_months"] = data.get("promo_max_term_months") or 0
        return data


class OnboardForm(MerchantForm):
    user_email = forms.EmailField(label=_("Merchant user's e-mail"), required=False,
                                  help_text=_("They choose their password with \"Forgot password\"."))
    user_full_name = forms.CharField(label=_("Merchant user's name"), max_length=150, required=False)


class MerchantUserForm(forms.Form):
    user_email = forms.EmailField(label=_("E-mail"))
    user_full_name = forms.CharField(label=_("Name"), max_length=150, required=False)


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=Merchant.Status.choices)
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)


class GoodForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    category = forms.ChoiceField(label=_("Category"), choices=Application.Purpose.choices)
    price = forms.DecimalField(label=_("Price"), max_digits=14, decimal_places=2,
                               widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.01"}))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)


class GoodsImportForm(forms.Form):
    file = forms.FileField(label=_("CSV file"),
                           help_text=_("Columns: name, category, price and optionally active (yes/no)."))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(_("The file is larger than 1 MB."))
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(_("Save the file as UTF-8 CSV."))


class BasketForm(forms.Form):
    """One quantity field per active good (`qty_<id>`), the down payment and an optional order reference."""

    down_payment = forms.DecimalField(label=_("Down payment"), max_digits=14, decimal_places=2, min_value=0,
                                      initial=Decimal("0"), required=False,
                                      widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.01"}))
    reference = forms.CharField(label=_("Order reference"), max_length=64, required=False)

    def __init__(self, *args, goods=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.goods = list(goods)
        for good in self.goods:
            self.fields[f"qty_{good.pk}"] = forms.IntegerField(
                label=good.name, min_value=0, max_value=999, required=False, initial=0,
                widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "form-control form-control-sm"}))

    def quantity_fields(self):
        return [(good, self[f"qty_{good.pk}"]) for good in self.goods]

    def lines(self) -> list[tuple[int, int]]:
        return [(good.pk, self.cleaned_data.get(f"qty_{good.pk}") or 0) for good in self.goods
                if self.cleaned_data.get(f"qty_{good.pk}")]
