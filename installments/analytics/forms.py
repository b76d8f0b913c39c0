"""Forms of the manager's dashboard: the range and product filter, defining and stopping experiments."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from installments.models import LoanProduct, SummaryRange


class DashboardFilter(forms.Form):
    """?range=12m&product=3 — an unknown value falls back to the default (the page never errors)."""

    range = forms.ChoiceField(label=_("Date range"), choices=SummaryRange.choices, required=False)
    product = forms.ModelChoiceField(label=_("Product"), queryset=LoanProduct.objects.order_by("name"),
                                     required=False, empty_label=_("All products"))

    def values(self, default_range: str) -> tuple[str, LoanProduct | None]:
        if not self.is_valid():
            return default_range, None
        return self.cleaned_data["range"] or default_range, self.cleaned_data["product"]


class ExperimentForm(forms.Form):
    """Define a variant; the rules (ranges, a key never reused) are `installments.origination.experiments.experiment_create`'s."""

    key = forms.SlugField(label=_("Key"), max_length=50,
                          help_text=_("Letters, digits and dashes; fixed once created (assignment hashes it)."))
    name = forms.CharField(label=_("Name"), max_length=120)
    product = forms.ModelChoiceField(label=_("Product"), queryset=LoanProduct.objects.none())
    hypothesis = forms.CharField(label=_("Hypothesis"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    rate_adjustment = forms.DecimalField(
        label=_("Variant rate adjustment (percentage points)"), max_digits=6, decimal_places=4, required=False,
        help_text=_("Added to the price tier's rate for the variant; negative for a lower price. Within ±5."))
    default_term_months = forms.IntegerField(
        label=_("Variant default term (months)"), required=False, min_value=1,
        help_text=_("Offered as the preferred term to variant customers who did not choose one."))
    ratio = forms.DecimalField(label=_("Share in the variant"), max_digits=5, decimal_places=4,
                               initial=Decimal("0.5"), help_text=_("0.5 = half the customers; from 0.05 to 0.95."))
    start = forms.BooleanField(label=_("Start it now"), required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = LoanProduct.objects.filter(is_active=True).order_by("name")


class ExperimentStopForm(forms.Form):
    reason = forms.CharField(label=_("Why stop it"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
