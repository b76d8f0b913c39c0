"""Receipts: every posted payment (any channel but the internal `credit` one) gives the customer a
receipt, in their language (User.preferred_language).

- A message in their Messages, sent by e-mail as well: an `installments.ApplicationNotice` of kind
  `payment_receipt` (installments.origination.notices, templates `installments/notices/<language>/payment_receipt.txt`),
  written once per payment (key `payment-receipt-<id>`) after the payment's transaction commits
  (payments.payment_record calls `receipt_queue_on_commit`), so a rolled-back payment has none.
- A PDF (`receipt_pdf`), rendered on demand for the customer and staff from the plan page, set like
  the contract PDF (installments.origination.contracts): reportlab, Chinese in the built-in CID font
  STSong-Light, figures in Helvetica.
"""

from __future__ import annotations

import io
import logging
from decimal import Decimal
from xml.sax.saxutils import escape

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from collections_app.models import Component, Payment
from installments.models import ApplicationNotice
from installments.origination.contracts import CJK_FONT, lender_name
from installments.origination.notices import notice_language, notice_queue

logger = logging.getLogger(__name__)


def receipt_queue_on_commit(payment: Payment) -> None:
    """Write the payment's receipt message once the current transaction commits (now, outside one)."""
    if payment.channel == Payment.Channel.CREDIT:
        return
    payment_id = payment.pk
    # robust: a failure to write the message never undoes or hides the committed payment.
    transaction.on_commit(lambda: receipt_queue(payment_id=payment_id), robust=True)


def _site_link(path: str) -> str:
    return getattr(settings, "SITE_URL", "http://localhost:8000").rstrip("/") + path


def _amount(value: Decimal) -> str:
    return f"{value:,.2f}"


def receipt_context(payment: Payment, *, language: str) -> dict:
    """What a receipt says, in `language`: used by the message and the PDF alike."""
    plan = payment.plan
    intent = getattr(payment, "intent", None) if payment.channel == Payment.Channel.SELF_SERVICE else None
    labels = dict(Component.choices)
    with translation.override(language):
        allocations = [{"number": part.installment.number, "due_date": part.installment.due_date.isoformat(),
                        "component": str(labels.get(part.component, part.component)), "amount": _amount(part.amount)}
                       for part in payment.allocations.select_related("installment").order_by("installment__number",
                                                                                              "pk")]
        return {
            "receipt_number": f"R{payment.pk:08d}", "plan_number": plan.number, "product": plan.product.name,
            "customer_name": plan.customer.full_name or plan.customer.email,
            "amount": _amount(payment.amount), "currency": payment.currency,
            "received_on": payment.received_on.isoformat(),
            "booked_at": timezone.localtime(payment.created_at).strftime("%Y-%m-%d %H:%M"),
            "channel": str(payment.get_channel_display()), "reference": payment.reference or "-",
            "allocated": _amount(payment.allocated_amount), "credited": _amount(payment.credited_amount),
            "prepaid": _amount(payment.prepaid_amount), "has_credit": payment.credited_amount > 0,
            "has_prepaid": payment.prepaid_amount > 0, "allocations": allocations,
            "reversed": payment.state == Payment.State.REVERSED,
            "test_mode": bool(intent and intent.test_mode), "lender": lender_name(), "language": language,
            "link": _site_link(reverse("collections:my_payment_receipt", args=[payment.pk])),
            "plan_link": _site_link(reverse("collections:my_plan", args=[plan.pk])),
        }


def receipt_queue(*, payment_id: int) -> ApplicationNotice | None:
    """Write the receipt message for a posted payment (once per payment) and send it by e-mail."""
    payment = (Payment.objects.select_related("plan", "plan__product", "plan__customer", "plan__application",
                                              "plan__application__customer", "plan__application__product")
               .filter(pk=payment_id).first())
    if payment is None or payment.channel == Payment.Channel.CREDIT:
        return None
    language = notice_language(payment.plan.customer)
    return notice_queue(application=payment.plan.application, kind=ApplicationNotice.Kind.PAYMENT_RECEIPT,
                        key=f"payment-receipt-{payment.pk}", extra=receipt_context(payment, language=language))


def receipt_filename(payment: Payment) -> str:
    return f"receipt-{payment.plan.number}-{payment.pk}.pdf"


def _font(language: str) -> tuple[str, str]:
    if language != "zh-hans":
        return "Helvetica", "Helvetica-Bold"
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT, CJK_FONT


def receipt_pdf(payment: Payment, *, language: str | None = None) -> bytes:
    """The receipt as a one-page PDF (A5) in `language` (default: the customer's). Page streams are
    left uncompressed so the figures and the plan number can be found in the bytes."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A5
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    language = language or notice_language(payment.plan.customer)
    c = receipt_context(payment, language=language)
    font, bold = _font(language)
    body = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=13, wordWrap="CJK" if font == CJK_FONT else None)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=10)
    title = ParagraphStyle("title", parent=body, fontName=bold, fontSize=15, leading=19, spaceAfter=4)

    def num(value) -> str:
        return f'<font name="Helvetica">{escape(str(value))}</font>'

    def p(text: str, style=body) -> Paragraph:
        return Paragraph(text, style)

    def grid(rows, widths):
        table = Table(rows, colWidths=widths)
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                                   ("FONTNAME", (0, 0), (-1, -1), font), ("FONTSIZE", (0, 0), (-1, -1), 8)]))
        return table

    currency = c["currency"]
    with translation.override(language):
        heading = _("Payment receipt")
        facts = [
            (_("Receipt number"), num(c["receipt_number"])),
            (_("Plan"), num(c["plan_number"]) + " · " + escape(c["product"])),
            (_("Customer"), escape(c["customer_name"])),
            (_("Amount received"), num(f"{c['amount']} {currency}")),
            (_("Value date"), num(c["received_on"])),
            (_("Booked"), num(c["booked_at"])),
            (_("Paid by"), escape(c["channel"])),
            (_("Reference"), num(c["reference"])),
            (_("Paid to installments"), num(f"{c['allocated']} {currency}")),
        ]
        if c["has_credit"]:
            facts.append((_("Kept as credit"), num(f"{c['credited']} {currency}")))
        if c["has_prepaid"]:
            facts.append((_("Prepaid"), num(f"{c['prepaid']} {currency}")))
        story = [p(escape(heading), title), p(escape(c["lender"]))]
        if c["test_mode"]:
            story.append(p(escape(_("Test mode: this payment went through a simulated provider; no real money "
                                    "moved.")), small))
        if c["reversed"]:
            story.append(p(escape(_("This payment was reversed; what it paid is owed again.")), small))
        story += [Spacer(1, 3 * mm),
                  grid([[p(escape(str(label))), p(value)] for label, value in facts], [38 * mm, 86 * mm])]
        if c["allocations"]:
            story += [Spacer(1, 3 * mm), p(escape(_("What the payment paid")))]
            rows = [[p(escape(_("Installment"))), p(escape(_("Due date"))), p(escape(_("Part"))),
                     p(escape(_("Amount")))]]
            rows += [[p(num(a["number"])), p(num(a["due_date"])), p(escape(a["component"])), p(num(a["amount"]))]
                     for a in c["allocations"]]
            story.append(grid(rows, [22 * mm, 30 * mm, 40 * mm, 32 * mm]))
        story += [Spacer(1, 4 * mm), p(escape(_("Thank you for your payment. Keep this receipt for your records.")),
                                       small)]
        document_title = f"{heading} {c['receipt_number']} {c['plan_number']}"
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A5, leftMargin=12 * mm, rightMargin=12 * mm, topMargin=12 * mm,
                                 bottomMargin=12 * mm, title=document_title, author=c["lender"],
                                 subject=c["plan_number"], pageCompression=0, invariant=1,
                                 lang="zh-CN" if language == "zh-hans" else "en")
    document.build(story)
    return buffer.getvalue()
