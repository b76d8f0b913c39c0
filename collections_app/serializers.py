"""API shapes for servicing: payments in and out, plans and their schedule, payoff quotes, requests."""

from decimal import Decimal

from rest_framework import serializers

from collections_app.models import Payment, PaymentAllocation, PaymentIntent, ServicingRequest
from installments.models import Installment, Plan


class AllocationOutputSerializer(serializers.ModelSerializer):
    installment_number = serializers.IntegerField(source="installment.number")
    due_date = serializers.DateField(source="installment.due_date")

    class Meta:
        model = PaymentAllocation
        fields = ["installment_number", "due_date", "component", "amount"]


class PaymentOutputSerializer(serializers.ModelSerializer):
    plan = serializers.CharField(source="plan.number")
    allocations = AllocationOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Payment
        fields = ["id", "plan", "amount", "currency", "received_on", "channel", "reference", "overpayment",
                  "allocated_amount", "credited_amount", "prepaid_amount", "state", "reversal_reason", "reversed_at",
                  "created_at", "allocations"]


class PaymentInputSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    received_on = serializers.DateField(required=False, help_text="Staff only; customers pay today.")
    overpayment = serializers.ChoiceField(choices=Payment.Overpayment.choices, default=Payment.Overpayment.CREDIT)
    reference = serializers.CharField(max_length=90, required=False, allow_blank=True, default="",
                                      help_text="Staff: the external reference of the money (receipt, transfer, "
                                                "counter slip); required.")


class ReversalInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class InstallmentOutputSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.version")
    amount_due = serializers.DecimalField(max_digits=14, decimal_places=2)
    amount_paid = serializers.DecimalField(max_digits=14, decimal_places=2)
    amount_outstanding = serializers.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        model = Installment
        fields = ["number", "version", "due_date", "principal_due", "interest_due", "fee_due", "penalty_due",
                  "amount_due", "amount_paid", "amount_outstanding", "status", "days_past_due", "paid_at",
                  "paid_on"]


class PlanOutputSerializer(serializers.ModelSerializer):
    product = serializers.CharField(source="product.name")

    class Meta:
        model = Plan
        fields = ["id", "number", "product", "currency", "method", "principal", "annual_rate", "disbursement_date",
                  "state", "current_version", "days_past_due", "bucket", "credit_balance", "closed_at"]


class PlanDetailOutputSerializer(PlanOutputSerializer):
    schedule = InstallmentOutputSerializer(many=True)

    class Meta(PlanOutputSerializer.Meta):
        fields = [*PlanOutputSerializer.Meta.fields, "schedule"]


class PayoffQuoteOutputSerializer(serializers.Serializer):
    on_date = serializers.DateField()
    arrears = serializers.DecimalField(max_digits=14, decimal_places=2)
    outstanding_principal = serializers.DecimalField(max_digits=14, decimal_places=2)
    accrued_interest = serializers.DecimalField(max_digits=14, decimal_places=2)
    interest_rebate = serializers.DecimalField(max_digits=14, decimal_places=2)
    early_payoff_fee = serializers.DecimalField(max_digits=14, decimal_places=2)
    discount = serializers.DecimalField(max_digits=14, decimal_places=2)
    credit = serializers.DecimalField(max_digits=14, decimal_places=2)
    early_payoff_discount = serializers.DecimalField(max_digits=14, decimal_places=2,
                                                     help_text="The product's one-time early payoff offer")
    paid_ahead = serializers.DecimalField(max_digits=14, decimal_places=2,
                                          help_text="Already paid on installments the payoff replaces")
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    valid_until = serializers.DateField(help_text="The quote holds for its date only (interest accrues daily)")


class RequestInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ServicingRequest.Kind.choices)
    reason = serializers.CharField(max_length=2000)
    params = serializers.DictField(required=False, default=dict,
                                   help_text="periods and interest (holiday), on_date (early payoff), days "
                                             "(extension), months (re-installment), starts_on and ends_on "
                                             "(interest freeze), on_date and discount (settlement).")


class RequestOutputSerializer(serializers.ModelSerializer):
    plan = serializers.CharField(source="plan.number")

    class Meta:
        model = ServicingRequest
        fields = ["id", "plan", "kind", "origin", "status", "params", "amount", "needs_approval", "reason",
                  "requested_at", "decided_at", "decision_note"]


class PaymentIntentInputSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"),
                                      help_text="At most what the plan still owes.")
    overpayment = serializers.ChoiceField(choices=Payment.Overpayment.choices, default=Payment.Overpayment.CREDIT)
    card_number = serializers.CharField(max_length=23, write_only=True,
                                        help_text="The bank card number; sent to the payment provider, never stored. "
                                                  "Test mode: 4000 0000 0000 0002 is declined, 4000 0000 0000 0077 "
                                                  "stays pending until the provider's callback.")


class PaymentIntentOutputSerializer(serializers.ModelSerializer):
    plan = serializers.CharField(source="plan.number")
    payment = PaymentOutputSerializer(read_only=True, allow_null=True,
                                      help_text="The posted payment once the intent is authorised.")

    class Meta:
        model = PaymentIntent
        fields = ["id", "plan", "amount", "currency", "overpayment", "status", "provider", "provider_transaction_id",
                  "test_mode", "message", "payment", "created_at", "updated_at"]


class ProviderCallbackInputSerializer(serializers.Serializer):
    """The provider's signed callback (documented for integrators; the raw body is what is verified)."""

    transaction_id = serializers.CharField(max_length=100)
    status = serializers.ChoiceField(choices=["authorised", "declined", "pending", "failed", "expired"])
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField(max_length=3)
    timestamp = serializers.IntegerField(help_text="Seconds since the epoch; refused when more than 5 minutes off.")
    nonce = serializers.CharField(max_length=64, help_text="Unique per callback; a nonce seen before is refused.")


class ProviderCallbackOutputSerializer(serializers.Serializer):
    intent = serializers.IntegerField(source="pk")
    status = serializers.CharField()
    payment = serializers.IntegerField(source="payment_id", allow_null=True)
