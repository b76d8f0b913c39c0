"""The signed API for a merchant's online store (/api/v1/merchant/): create a basket, read its status.

No session or token: each request carries `X-Merchant-Id`, `X-Timestamp` (Unix seconds, within 5
minutes of our clock) and `X-Signature` = hex HMAC-SHA256, with the merchant's secret, of
`<timestamp>\\n<METHOD>\\n<path>\\n<raw body>` (services.signature_for). Errors are JSON naming the field.
"""

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import DomainError
from installments.merchants import selectors, services
from installments.merchants.models import Basket

SIGNATURE_HEADERS = [
    OpenApiParameter("X-Merchant-Id", str, OpenApiParameter.HEADER, required=True),
    OpenApiParameter("X-Timestamp", str, OpenApiParameter.HEADER, required=True, description="Unix seconds"),
    OpenApiParameter("X-Signature", str, OpenApiParameter.HEADER, required=True,
                     description="hex HMAC-SHA256 of `<timestamp>\\n<METHOD>\\n<path>\\n<body>`"),
]


class BasketOutput(serializers.Serializer):
    id = serializers.UUIDField(source="basket.public_id")
    reference = serializers.CharField(source="basket.reference")
    total = serializers.DecimalField(source="basket.total", max_digits=14, decimal_places=2)
    down_payment = serializers.DecimalField(source="basket.down_payment", max_digits=14, decimal_places=2)
    amount_financed = serializers.DecimalField(source="basket.amount_financed", max_digits=14, decimal_places=2)
    currency = serializers.SerializerMethodField()
    status = serializers.CharField()
    application_number = serializers.CharField()
    expires_at = serializers.DateTimeField(source="basket.expires_at")
    checkout_url = serializers.CharField(required=False)

    def get_currency(self, view) -> str:
        return "CNY"


class _SignedApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def signed(self, request):
        return services.signed_merchant(
            merchant_id=request.headers.get("X-Merchant-Id", ""), timestamp=request.headers.get("X-Timestamp", ""),
            signature=request.headers.get("X-Signature", ""), method=request.method, path=request.path,
            body=request.body)

    @staticmethod
    def refused(error: DomainError) -> Response:
        return Response(error.as_dict(), status=status.HTTP_401_UNAUTHORIZED)

    def output(self, request, basket: Basket) -> dict:
        view = selectors.basket_view(basket)
        data = BasketOutput(view).data
        if view["status"] == "open":
            from installments.merchants.views import checkout_url

            data["checkout_url"] = checkout_url(request, basket)
        return data


class BasketCreateApi(_SignedApi):
    """Create a basket of the merchant's goods; answers its checkout link (a QR code of it is the shop's to show).

    A second request with the same `reference` answers the basket made by the first (200)."""

    class InputSerializer(serializers.Serializer):
        class LineSerializer(serializers.Serializer):
            good = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
            quantity = serializers.IntegerField(min_value=1, max_value=services.MAX_QUANTITY)

        lines = LineSerializer(many=True, allow_empty=False, max_length=services.MAX_LINES)
        down_payment = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False,
                                                default=0)
        reference = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")

    @extend_schema(parameters=SIGNATURE_HEADERS, request=InputSerializer,
                   responses={201: BasketOutput, 200: BasketOutput,
                              400: OpenApiResponse(description="Errors naming the field"),
                              401: OpenApiResponse(description="The signature is missing or wrong")})
    def post(self, request):
        try:
            merchant = self.signed(request)
        except DomainError as error:
            return self.refused(error)
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            return Response(serializer.errors, status=status.HTTP_400_BAD_REQUEST)
        data = serializer.validated_data
        reference = data["reference"].strip()
        if reference:
            existing = Basket.objects.filter(merchant=merchant, reference=reference).first()
            if existing is not None:
                return Response(self.output(request, existing), status=status.HTTP_200_OK)
        try:
            basket = services.basket_create(merchant=merchant, by=None, down_payment=data["down_payment"],
                                            reference=reference,
                                            lines=[(line["good"], line["quantity"]) for line in data["lines"]])
        except DomainError as error:
            return Response(error.as_dict(), status=status.HTTP_400_BAD_REQUEST)
        return Response(self.output(request, basket), status=status.HTTP_201_CREATED)


class BasketStatusApi(_SignedApi):
    """A basket's status: open, expired, cancelled, or its application's pending, approved, declined,
    cancelled, active."""

    @extend_schema(parameters=SIGNATURE_HEADERS, responses={
        200: BasketOutput, 401: OpenApiResponse(description="The signature is missing or wrong"),
        404: inline_serializer("MerchantBasketNotFound", {"detail": serializers.CharField()})})
    def get(self, request, public_id):
        try:
            merchant = self.signed(request)
        except DomainError as error:
            return self.refused(error)
        basket = selectors.baskets_for_merchant(merchant).filter(public_id=public_id).first()
        if basket is None:
            return Response({"detail": _("Not found.")}, status=status.HTTP_404_NOT_FOUND)
        return Response(self.output(request, basket))
