"""Forms of the installments pages: the public calculator and the approvers' credit policy."""

from decimal import Decimal

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from installments.models import GRADES, CreditPolicy, LoanProduct
from installments.origination import selectors

METHOD_LABELS = {
    "annuity": _("Equal installments"),
    "equal_principal": _("Equal principal"),
    "flat": _("Flat rate"),
    "interest_only": _("Interest only, principal at the end"),
    "balloon": _("Balloon (final lump sum)"),
    "step_up": _("Step-up (lower first, rising later)"),
    "seasonal": _("Seasonal (lower in chosen months)"),
    "combination": _("Combination (part installments, part lump sum)"),
    "zero_interest": _("0% interest promotion"),
    "custom": _("Custom amounts"),
}
OFFER_LABELS = {
    "best_match": _("Best match for you"),
    "closest_target": _("Closest to your target"),
    "seasonal_match": _("Matches your seasonal income"),
    "cheapest": _("Cheapest total cost"),
    "lowest_payment": _("Lowest monthly payment"),
    "preferred_type": _("Your preferred plan type"),
    "promotion": _("0% interest promotion"),
}
CALCULATOR_METHODS = ("annuity", "equal_principal", "step_up", "seasonal", "interest_only", "balloon",
                      "combination", "zero_interest")
MONTH_CHOICES = [(m, _(name)) for m, name in enumerate(
    ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
     "November", "December"), start=1)]


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method.replace("_", " "))


class CalculatorForm(forms.Form):
    """Amount, term and up to three plan types; blank price fields take the product's."""

    product = forms.ModelChoiceField(queryset=LoanProduct.objects.none(), to_field_name="code", label=_("Product"),
                                     empty_label=None)
    amount = forms.DecimalField(label=_("Amount"), max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    term_months = forms.IntegerField(label=_("Term (months)"), min_value=1, max_value=360)
    methods = forms.MultipleChoiceField(
        label=_("Plan types to compare (up to 3)"),
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
        choices=[(m, METHOD_LABELS[m]) for m in CALCULATOR_METHODS],
    )
    annual_rate = forms.DecimalField(
        label=_("Annual interest rate (%)"), required=False, max_digits=7, decimal_places=4, min_value=Decimal(0),
        max_value=Decimal(100), help_text=_("Leave blank for the product's standard rate."),
    )
    upfront_fee = forms.DecimalField(label=_("Upfront fee"), required=False, max_digits=14, decimal_places=2,
                                     min_value=Decimal(0), help_text=_("Leave blank for the product's fee."))
    monthly_fee = forms.DecimalField(label=_("Monthly fee"), required=False, max_digits=14, decimal_places=2,
                                     min_value=Decimal(0), help_text=_("Leave blank for the product's fee."))
    seasonal_months = forms.TypedMultipleChoiceField(
        label=_("Lower-income months (seasonal plans)"), required=False, coerce=int, choices=MONTH_CHOICES,
        widget=forms.SelectMultiple(attrs={"size": 4}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = selectors.product_list_public()

    def clean_methods(self):
        methods = self.cleaned_data["methods"]
        if len(methods) > 3:
            raise forms.ValidationError(_("Compare at most three plan types."))
        return methods


class CreditPolicyForm(forms.ModelForm):
    """A new credit stance from a date (approvers)."""

    class Meta:
        model = CreditPolicy
        fields = ["name", "product", "effective_from", "rate_adjustment", "max_amount_factor", "max_term_months",
                  "cutoff_grade", "reason"]
        widgets = {
            "effective_from": forms.DateInput(attrs={"type": "date"}),
            "reason": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["effective_from"].initial = timezone.localdate()
        self.fields["cutoff_grade"].choices = GRADES
        self.fields["product"].queryset = LoanProduct.objects.order_by("code")
        self.fields["product"].empty_label = _("All products")

    def validate_unique(self):
        """The service checks one policy per product and day, with a message naming the field."""
