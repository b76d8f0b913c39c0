"""Output shapes shared by the installments API: schedules (quotes), offers, products, offer summaries.

Money and rates leave the API as decimal strings ("530.73", "12.68"), never floats.
"""

from django.utils.translation import get_language
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from installments.models import LoanProduct, Offer, PriceTier
from installments.origination import selectors

MONEY = {"max_digits": 16, "decimal_places": 2}
PERCENT = {"max_digits": 9, "decimal_places": 2}


class InstallmentRowSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    due_date = serializers.DateField()
    principal = serializers.DecimalField(**MONEY, help_text="Reduction of the balance (negative when interest "
                                                            "is capitalised).")
    interest = serializers.DecimalField(**MONEY)
    fee = serializers.DecimalField(**MONEY)
    payment = serializers.DecimalField(**MONEY, help_text="principal + interest + fee")
    balance = serializers.DecimalField(**MONEY, help_text="Principal left after this installment.")


@extend_schema_serializer(component_name="Schedule")
class ScheduleSerializer(serializers.Serializer):
    """A schedule with its disclosure, as `installments.engine.schedules.schedule_to_dict` gives it."""

    method = serializers.CharField()
    frequency = serializers.CharField()
    day_count = serializers.CharField()
    annual_rate = serializers.DecimalField(max_digits=12, decimal_places=4, help_text="Nominal annual rate, percent.")
    currency = serializers.CharField(required=False)
    amount_financed = serializers.DecimalField(**MONEY, help_text="What the installments repay.")
    net_disbursed = serializers.DecimalField(**MONEY, help_text="What the customer receives (after a deducted fee).")
    total_interest = serializers.DecimalField(**MONEY)
    total_fees = serializers.DecimalField(**MONEY, help_text="Upfront fee plus every monthly fee.")
    total_payable = serializers.DecimalField(**MONEY, help_text="Every payment, plus an upfront fee deducted.")
    apr = serializers.DecimalField(**PERCENT, help_text="Annual percentage rate: periods a year x the periodic IRR "
                                                        "of all cash flows, fees included; percent.")
    effective_annual_rate = serializers.DecimalField(**PERCENT, help_text="(1 + periodic IRR) ^ periods - 1; "
                                                                          "percent.")
    installments = InstallmentRowSerializer(many=True)


class MessageSerializer(serializers.Serializer):
    code = serializers.CharField()
    en = serializers.CharField()
    zh = serializers.CharField()


class SuggestionSerializer(serializers.Serializer):
    amount = serializers.DecimalField(**MONEY)
    term = serializers.IntegerField(help_text="Months.")
    method = serializers.CharField()
    installment = serializers.DecimalField(**MONEY)
    apr = serializers.DecimalField(**PERCENT)
    en = serializers.CharField()
    zh = serializers.CharField()


class PricingSerializer(serializers.Serializer):
    scored_grade = serializers.CharField(allow_null=True, help_text="The grade from scoring; null before scoring.")
    grade = serializers.CharField(help_text="The price tier used, after the repayment-record move.")
    default_grade_used = serializers.BooleanField()
    tier_move = serializers.CharField(allow_null=True, help_text="better, stricter, higher_limit or null.")
    annual_rate = serializers.DecimalField(max_digits=12, decimal_places=4)
    max_amount = serializers.DecimalField(**MONEY)
    min_term = serializers.IntegerField()
    max_term = serializers.IntegerField()


@extend_schema_serializer(component_name="OfferRunSummary")
class OfferSummarySerializer(serializers.Serializer):
    """What the offer engine used and decided; `reasons` and `suggestion` when nothing was affordable."""

    currency = serializers.CharField(required=False)
    requested_amount = serializers.DecimalField(**MONEY, required=False)
    amount = serializers.DecimalField(**MONEY, required=False, help_text="The amount offered (the limit if lower).")
    pricing = PricingSerializer(required=False)
    considered = serializers.IntegerField(required=False, help_text="Candidate plans priced.")
    offered = serializers.IntegerField(required=False)
    rejected = serializers.DictField(child=serializers.IntegerField(), required=False,
                                     help_text="Candidates dropped, by reason.")
    declined = serializers.BooleanField(required=False, help_text="True: the application is declined (or a "
                                        "knock-out rule declines it), so no offers; `reasons` say why.")
    reasons = MessageSerializer(many=True, required=False)
    notes = MessageSerializer(many=True, required=False)
    suggestion = SuggestionSerializer(allow_null=True, required=False)


class FinalPaymentSerializer(serializers.Serializer):
    amount = serializers.DecimalField(**MONEY)
    due_date = serializers.DateField()
    number = serializers.IntegerField(help_text="The installment number.")


@extend_schema_serializer(component_name="Offer")
class OfferSerializer(serializers.ModelSerializer):
    """An offer with its full disclosure; `id` is null for offers that were not stored."""

    schedule = serializers.SerializerMethodField()
    explanation = serializers.SerializerMethodField(help_text="The explanation in the request's language.")
    labels = serializers.ListField(child=serializers.CharField(), help_text="best_match, closest_target, "
                                   "seasonal_match, cheapest, lowest_payment, preferred_type, promotion.")
    terms = serializers.JSONField(help_text="The schedule engine's inputs for this plan.")
    final_payment = serializers.SerializerMethodField(
        help_text="The last payment when it differs from the regular installment (balloon, interest-only, ...); "
                  "null for a level plan.")

    class Meta:
        model = Offer
        fields = ["id", "application", "rank", "method", "amount", "term_months", "annual_rate", "installment",
                  "highest_installment", "total_interest", "total_fees", "total_payable", "apr",
                  "effective_annual_rate", "currency", "grade", "labels", "explanation", "explanation_en",
                  "explanation_zh", "is_counter_offer", "chosen_at", "terms", "schedule", "final_payment"]
        read_only_fields = fields

    @extend_schema_field(ScheduleSerializer)
    def get_schedule(self, offer: Offer) -> dict:
        return {**offer.schedule, "currency": offer.currency} if isinstance(offer.schedule, dict) else {}

    @extend_schema_field(FinalPaymentSerializer(allow_null=True))
    def get_final_payment(self, offer: Offer) -> dict | None:
        final = selectors.offer_final_payment(offer)
        return FinalPaymentSerializer(final).data if final else None

    def get_explanation(self, offer: Offer) -> str:
        return offer.explanation_zh if (get_language() or "").startswith("zh") else offer.explanation_en


class PriceTierSerializer(serializers.ModelSerializer):
    class Meta:
        model = PriceTier
        fields = ["grade", "annual_rate", "max_amount", "max_term_months"]


@extend_schema_serializer(component_name="LoanProduct")
class ProductSerializer(serializers.ModelSerializer):
    allowed_methods = serializers.SerializerMethodField()
    from_rate = serializers.SerializerMethodField(help_text="The calculator's default rate (tier C), percent.")
    price_tiers = PriceTierSerializer(many=True, read_only=True)

    class Meta:
        model = LoanProduct
        fields = ["code", "name", "name_zh", "description", "currency", "min_amount", "max_amount",
                  "min_term_months", "max_term_months", "allowed_methods", "upfront_fee_rate", "upfront_fee_financed",
                  "monthly_fee", "max_apr", "promo_max_term_months", "promo_monthly_fee_rate",
                  "early_payoff_rebate", "early_payoff_fee_rate", "early_payoff_discount_rate",
                  "early_payoff_discount_months", "late_fee_flat", "penalty_rate", "from_rate",
                  "price_tiers"]

    def get_allowed_methods(self, product: LoanProduct) -> list[str]:
        return product.methods()

    @extend_schema_field(serializers.DecimalField(max_digits=7, decimal_places=4, allow_null=True))
    def get_from_rate(self, product: LoanProduct):
        rate = selectors.product_public_rate(product)
        return None if rate is None else str(rate)
