"""REST API of the erp room: the web shop posts provisional orders at checkout.

POST /api/provisional-orders/ with a token of a user holding `post_provisional_orders`
(Integration admin issues one for the shop). The order is stored, then planned at once
for every orders flow of its ERP connection. Bad input is a 400 naming each field: at
most MAX_LINES lines, every text bounded; body size and JSON depth are bounded for the
whole API by its parser (syncapp/api_parsers.py).
"""
from __future__ import annotations

import re
from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from syncapp.roles import HasCapability

from .models import ErpConnection
from .provisional import AlreadyConfirmed, provisional_order_receive

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_AMOUNT = {"max_digits": 13, "decimal_places": 4}
TOTAL_TOLERANCE = Decimal("0.05")  # what a shop's per-line rounding may leave
# No checkout has more lines; a bigger list is an error or an attack, refused before any line is read.
MAX_LINES = 500


class ConnectionNameField(serializers.SlugRelatedField):
    """An ERP connection by name; a name longer than any connection's is refused without a
    query and without echoing it back."""

    default_error_messages = {"too_long": "No ERP connection has a name this long (at most {max_length})."}

    def to_internal_value(self, data):
        max_length = ErpConnection._meta.get_field("name").max_length
        if isinstance(data, str) and len(data) > max_length:
            self.fail("too_long", max_length=max_length)
        return super().to_internal_value(data)


class ProvisionalLineSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=50, help_text="The product code the shop sells it under.")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    qty = serializers.DecimalField(**_AMOUNT, min_value=Decimal("0.0001"))
    price = serializers.DecimalField(**_AMOUNT, min_value=Decimal(0), help_text="Unit price before tax.")


class ProvisionalOrderSerializer(serializers.Serializer):
    """A checkout as the shop saw it. Totals are before tax except `grand_total`, which
    must equal subtotal - discount + shipping + tax (the subtotal defaults to the lines)."""

    web_reference = serializers.CharField(max_length=100, help_text="The shop's order number; the ERP order "
                                                                    "carries it as its customer reference.")
    customer_email = serializers.EmailField(max_length=254)
    customer_id = serializers.CharField(max_length=50, required=False, allow_blank=True, default="",
                                        help_text="The ERP customer code, when the shop knows it.")
    currency = serializers.CharField(max_length=3, help_text="ISO 4217, e.g. GBP.")
    lines = ProvisionalLineSerializer(many=True, allow_empty=False, max_length=MAX_LINES)
    subtotal = serializers.DecimalField(**_AMOUNT, min_value=Decimal(0), required=False)
    tax_total = serializers.DecimalField(**_AMOUNT, min_value=Decimal(0), default=Decimal(0))
    shipping_total = serializers.DecimalField(**_AMOUNT, min_value=Decimal(0), default=Decimal(0))
    discount_total = serializers.DecimalField(**_AMOUNT, min_value=Decimal(0), default=Decimal(0))
    grand_total = serializers.DecimalField(**_AMOUNT, min_value=Decimal(0))
    received_at = serializers.DateTimeField(required=False, help_text="When the shopper checked out; now if left out.")
    connection = ConnectionNameField(
        slug_field="name", queryset=ErpConnection.objects.all(), required=False,
        help_text="The ERP connection the order will reach; may be left out when there is only one.")

    def validate_web_reference(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("The web reference is empty.")
        return value.strip()

    def validate_currency(self, value: str) -> str:
        if not _CURRENCY.match(value.strip().upper()):
            raise serializers.ValidationError("Give the currency as a three-letter ISO code, e.g. GBP.")
        return value.strip().upper()

    def validate(self, attrs: dict) -> dict:
        lines_total = sum((line["qty"] * line["price"] for line in attrs["lines"]), Decimal(0))
        attrs.setdefault("subtotal", lines_total.quantize(Decimal("0.01")))
        if abs(attrs["subtotal"] - lines_total) > TOTAL_TOLERANCE:
            raise serializers.ValidationError({"subtotal": f"The lines add up to {lines_total:.2f}, "
                                                           f"not {attrs['subtotal']:.2f}."})
        expected = attrs["subtotal"] - attrs["discount_total"] + attrs["shipping_total"] + attrs["tax_total"]
        if abs(expected - attrs["grand_total"]) > TOTAL_TOLERANCE:
            raise serializers.ValidationError({"grand_total": (
                f"subtotal - discount + shipping + tax is {expected:.2f}, not {attrs['grand_total']:.2f}.")})
        if attrs.get("connection") is None:
            connections = list(ErpConnection.objects.all()[:2])
            if len(connections) != 1:
                raise serializers.ValidationError({"connection": "Name the ERP connection: there is more than one "
                                                                 "(or none)."})
            attrs["connection"] = connections[0]
        return attrs


class ProvisionalOrderReceiptSerializer(serializers.Serializer):
    """What the shop gets back: "pending" (sent on as a pending order) or "confirmed"
    (the ERP order already arrived, so nothing provisional is sent)."""

    web_reference = serializers.CharField()
    status = serializers.CharField()
    record_key = serializers.CharField()
    received_at = serializers.DateTimeField()


class ProvisionalOrderView(APIView):
    """Receive a provisional order and send it on at once, as a pending order."""

    permission_classes = [HasCapability.of("post_provisional_orders")]

    @extend_schema(request=ProvisionalOrderSerializer,
                   responses={201: ProvisionalOrderReceiptSerializer, 200: ProvisionalOrderReceiptSerializer})
    def post(self, request: Request) -> Response:
        from syncapp.services import records_replan_for_connection

        serializer = ProvisionalOrderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        connection = data.pop("connection")
        lines = [{"sku": line["sku"], "name": line["name"], "qty": float(line["qty"]), "price": float(line["price"])}
                 for line in data.pop("lines")]
        try:
            order, created = provisional_order_receive(connection=connection, lines=lines, **data)
        except AlreadyConfirmed as confirmed:
            return Response({"detail": str(confirmed), "web_reference": confirmed.order.web_reference,
                             "status": confirmed.order.status}, status=status.HTTP_409_CONFLICT)
        records_replan_for_connection(connection=connection, source_entity="orders", record_keys=[order.record_key])
        return Response(ProvisionalOrderReceiptSerializer(order).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
