"""Contracts: generated from the approved offer with its full disclosure, versioned, rendered as
HTML (the text the customer accepts, fingerprinted) and as PDF, in the customer's language, and
accepted by the customer with time, IP address and the exact version.

The disclosure (`Contract.disclosure`, JSON with money as strings) is everything the customer
must see before signing: amount financed and net disbursed, plan type, term, nominal rate, APR
(IRR of all cash flows, fees included) and effective annual rate, every fee (what, when, how
much), total interest, total payable, the full schedule, early payoff terms and late payment
terms (flat late fee, penalty interest, the legal cap on late charges, grace days). The HTML is
rendered from `installments/contract/contract_<language>.html` with the disclosure only, so the
same disclosure always gives the same text; `content_sha256` is the SHA-256 of that HTML.
"""

import hashlib
import io
from decimal import Decimal
from xml.sax.saxutils import escape

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from config.errors import DomainError
from customers.audit import audit_record
from customers.models import CustomerProfile
from installments.engine.offers import METHOD_NAMES
from installments.hooks import DEFAULT_ALLOCATION_ORDER, servicing_terms
from installments.models import Application, Contract, Offer
from installments.origination.selectors import DECIDE_ROLES, effective_approval

State = Application.State

# The languages a contract is written in (settings.LANGUAGES codes) and their templates.
CONTRACT_TEMPLATES = {
    "en": "installments/contract/contract_en.html",
    "zh-hans": "installments/contract/contract_zh_hans.html",
}
DEFAULT_LANGUAGE = "en"
CJK_FONT = "STSong-Light"


def lender_name() -> str:
    return getattr(settings, "LENDER_NAME", "Fair Installments")


def contract_language_for(user) -> str:
    """The contract language for a customer: their preferred language when a contract template exists for it."""
    language = (getattr(user, "preferred_language", "") or DEFAULT_LANGUAGE).lower()
    if language.startswith("zh"):
        return "zh-hans"
    return language if language in CONTRACT_TEMPLATES else DEFAULT_LANGUAGE


def contract_latest(application: Application) -> Contract | None:
    return application.contracts.select_related("offer").order_by("-version").first()


def _money(value, places: int) -> str:
    return f"{Decimal(str(value or 0)):.{places}f}"


def _rate(value) -> str:
    return f"{Decimal(str(value or 0)):.2f}"


def contract_disclosure(*, application: Application, offer: Offer, language: str) -> dict:
    """The full disclosure of `offer` for the contract (JSON-ready: money and rates as strings)."""
    product = application.product
    places = product.currency_decimals
    profile = CustomerProfile.objects.filter(user_id=application.customer_id).first()
    terms = offer.terms or {}
    schedule = offer.schedule or {}
    rows = list(schedule.get("installments") or [])
    upfront = Decimal(str(terms.get("upfront_fee") or 0))
    per_installment = Decimal(str(terms.get("monthly_fee") or 0))
    fees = []
    if upfront:
        fees.append({"code": "upfront", "amount": _money(upfront, places), "count": 1, "total": _money(upfront, places),
                     "financed": bool(terms.get("upfront_fee_financed"))})
    if per_installment:
        fees.append({"code": "per_installment", "amount": _money(per_installment, places), "count": len(rows),
                     "total": _money(per_installment * len(rows), places), "financed": False})
    penalty_applied = min(product.penalty_rate, product.max_apr)
    servicing = servicing_terms(product)
    grace_days, allocation_order = servicing.grace_days, list(servicing.allocation_order)
    name_en, name_zh = METHOD_NAMES.get(offer.method, (offer.method, offer.method))
    zh = language.startswith("zh")
    return {
        "lender": lender_name(),
        "contract_number": application.number,
        "language": language,
        "generated_on": timezone.localdate().isoformat(),
        "customer": {
            "name": profile.full_name if profile else application.customer.get_full_name(),
            "id_number_masked": profile.id_number_masked if profile else "",
            "id_type": profile.get_id_type_display() if profile else "",
            "address": (" ".join(p for p in (profile.province, profile.city, profile.district, profile.street) if p)
                        if profile else ""),
            "email": application.customer.email,
        },
        "product": {"code": product.code, "name": (product.name_zh or product.name) if zh else product.name},
        "currency": offer.currency or product.currency,
        "counter_offer": offer.is_counter_offer,
        "offer_id": offer.pk,
        "method": offer.method,
        "method_name": name_zh if zh else name_en,
        "amount_financed": _money(offer.amount, places),
        "net_disbursed": schedule.get("net_disbursed") or _money(offer.amount, places),
        "term_months": offer.term_months,
        "installment_count": len(rows),
        "frequency": terms.get("frequency", "monthly"),
        "day_count": terms.get("day_count", "30/360"),
        "annual_rate": _rate(offer.annual_rate),
        "apr": _rate(offer.apr),
        "effective_annual_rate": _rate(offer.effective_annual_rate),
        "total_interest": _money(offer.total_interest, places),
        "total_fees": _money(offer.total_fees, places),
        "total_payable": _money(offer.total_payable, places),
        "fees": fees,
        "installments": rows,
        "first_due_date": rows[0]["due_date"] if rows else "",
        "last_due_date": rows[-1]["due_date"] if rows else "",
        "assumed_disbursement_date": terms.get("disbursement_date", ""),
        "early_payoff": {"interest_rebate": product.early_payoff_rebate,
                         "fee_rate": _rate(product.early_payoff_fee_rate),
                         "discount_rate": _rate(product.early_payoff_discount_rate),
                         "discount_months": product.early_payoff_discount_months},
        "late_payment": {"late_fee": _money(product.late_fee_flat, places), "penalty_rate": _rate(product.penalty_rate),
                         "penalty_rate_applied": _rate(penalty_applied), "cap_rate": _rate(product.max_apr),
                         "grace_days": grace_days, "allocation_order": allocation_order},
        "max_apr": _rate(product.max_apr),
    }


def contract_render_html(*, disclosure: dict, language: str) -> str:
    """The contract text for `disclosure` in `language` (a settings.LANGUAGES code with a template)."""
    template = CONTRACT_TEMPLATES.get(language)
    if template is None:
        raise DomainError(_("Contracts are not available in this language."), field="language")
    with translation.override(language):
        return render_to_string(template, {"d": disclosure}).strip() + "\n"


def fingerprint(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


def contract_generate(*, application: Application, by, offer: Offer | None = None,
                      language: str | None = None) -> Contract:
    """A new contract version for an approved application, from the approved offer (default: the
    offer of the approval in effect), in `language` (default: the customer's preferred one).

    Staff who decide (or the system, by=None) generate; refused once a version is accepted or
    unless the application is approved. Audited (`contract.generate`)."""
    if by is not None and not by.has_role(*DECIDE_ROLES):
        raise PermissionDenied
    with transaction.atomic():
        application = Application.objects.select_for_update().select_related("product", "customer").get(
            pk=application.pk)
        if application.state != State.APPROVED:
            raise DomainError(_("A contract is made for an approved application; this one is %(state)s.")
                              % {"state": application.get_state_display()}, field="state")
        if offer is None:
            approval = effective_approval(application)
            offer = approval.offer if approval else None
        if offer is None or offer.application_id != application.pk:
            raise DomainError(_("There is no approved offer to make the contract from."), field="offer")
        existing = list(Contract.objects.select_for_update().filter(application=application).order_by("pk"))
        if any(c.accepted_at for c in existing):
            raise DomainError(_("The customer has already accepted a contract for this application."),
                              field="contract", code="already_accepted")
        language = language or contract_language_for(application.customer)
        disclosure = contract_disclosure(application=application, offer=offer, language=language)
        html = contract_render_html(disclosure=disclosure, language=language)
        contract = Contract.objects.create(
            application=application, offer=offer, version=max((c.version for c in existing), default=0) + 1,
            language=language, content_html=html, content_sha256=fingerprint(html), disclosure=disclosure,
            created_by=by,
        )
        audit_record(actor=by, action="contract.generate", target=contract, data={
            "application": application.pk, "offer": offer.pk, "version": contract.version, "language": language,
            "sha256": contract.content_sha256, "apr": disclosure["apr"]})
    return contract


def contract_accept(*, contract: Contract, by, ip_address: str | None) -> Contract:
    """The customer accepts this exact contract version: the time, the IP address, the version and
    its fingerprint are recorded and the application becomes `contracted`. A counter-offer becomes
    the customer's chosen offer. Refused (DomainError) for a superseded version, a second
    acceptance, an application no longer approved, or a text that no longer matches its fingerprint;
    PermissionDenied for anyone but the application's customer."""
    from installments.origination.applications import application_transition

    with transaction.atomic():
        application = Application.objects.select_for_update().get(pk=contract.application_id)
        if by is None or not by.is_authenticated or by.pk != application.customer_id:
            raise PermissionDenied
        contract = Contract.objects.select_for_update().select_related("offer").get(pk=contract.pk)
        if contract.accepted_at is not None:
            raise DomainError(_("This contract was already accepted."), field="contract", code="already_accepted")
        if application.state != State.APPROVED:
            raise DomainError(_("This contract can no longer be accepted: the application is %(state)s.")
                              % {"state": application.get_state_display()}, field="contract", code="invalid_state")
        latest = application.contracts.order_by("-version").values_list("pk", flat=True).first()
        if latest != contract.pk:
            raise DomainError(_("A newer version of this contract exists; please read and accept that one."),
                              field="contract", code="stale_contract")
        if fingerprint(contract.content_html) != contract.content_sha256:
            raise DomainError(_("The contract text does not match its fingerprint; it cannot be accepted."),
                              field="contract", code="tampered")
        now = timezone.now()
        contract.accepted_at, contract.accepted_ip = now, ip_address or None
        contract.save(update_fields=["accepted_at", "accepted_ip"])
        offer = contract.offer
        if offer.chosen_at is None:
            offers = list(Offer.objects.select_for_update().filter(application=application).order_by("pk"))
            for previous in (o for o in offers if o.chosen_at is not None):
                previous.chosen_at, previous.chosen_by = None, None
                previous.save(update_fields=["chosen_at", "chosen_by"])
            offer.chosen_at, offer.chosen_by = now, by
            offer.save(update_fields=["chosen_at", "chosen_by"])
        audit_record(actor=by, action="contract.accept", target=contract, ip_address=ip_address or None,
                     reason=f"contract v{contract.version} accepted", data={
                         "application": application.pk, "version": contract.version, "sha256": contract.content_sha256,
                         "offer": offer.pk, "counter_offer": offer.is_counter_offer})
        application_transition(application=application, to=State.CONTRACTED, by=by,
                               reason=f"contract v{contract.version} accepted",
                               data={"contract": contract.pk, "version": contract.version})
    return contract


# --- PDF -----------------------------------------------------------------------------------------------

PDF_TEXTS = {
    "en": {
        "title": "Installment Loan Agreement", "number": "Contract", "version": "version",
        "parties": "Parties", "lender": "Lender", "borrower": "Borrower", "id": "ID", "address": "Address",
        "counter": "This plan is a counter-offer from the lender, changed from the plan you applied for.",
        "key_facts": "Key facts", "product": "Product", "plan_type": "Plan type",
        "amount_financed": "Amount financed", "net_disbursed": "Paid out to you", "term": "Term (installments)",
        "annual_rate": "Nominal annual interest rate", "apr": "Annual percentage rate (APR)",
        "ear": "Effective annual rate", "total_interest": "Total interest", "total_fees": "Total fees",
        "total_payable": "Total payable", "fees": "Every fee",
        "fee_upfront": "Arrangement fee, once at disbursement", "fee_upfront_financed": "(added to the amount financed)",
        "fee_per_installment": "Fee with every installment", "no_fees": "No fees.", "fee": "Fee", "each": "Each",
        "times": "Times", "total": "Total", "schedule": "Repayment schedule", "number_short": "#",
        "due_date": "Due date", "payment": "Payment", "principal": "Principal", "interest": "Interest",
        "balance": "Balance",
        "schedule_note": "Due dates assume disbursement on {date}; the actual dates follow the disbursement date, "
                         "keeping the same amounts.",
        "early": "Early repayment",
        "early_rebate": "You may repay early at any time. You pay the principal outstanding plus the interest "
                        "accrued to the payoff date; interest not yet earned is not charged.",
        "early_no_rebate": "You may repay early at any time. You pay the principal outstanding and the interest "
                           "scheduled for the current period.",
        "early_fee": "Early repayment fee: {rate}% of the principal repaid early.", "early_no_fee":
        "There is no early repayment fee.",
        "early_discount": "One-time early payoff offer: {rate}% of the interest still due in the payoff quote is "
                          "taken off when you repay the whole loan early{window}.",
        "early_discount_window": " within {months} months of the disbursement",
        "late": "Late payment",
        "late_fee": "Late fee: {fee} {currency} once for each installment paid late.",
        "late_penalty": "Penalty interest: {rate}% a year on the overdue principal, day by day.",
        "late_grace": "Late charges start when an installment is more than {days} days late, counted from its "
                      "due date.",
        "late_cap": "Cap: late charges on an installment never exceed {cap}% a year on its overdue amount (the "
                    "legal maximum APR).",
        "acceptance": "Acceptance", "accepted": "Accepted electronically on {when} from IP address {ip}.",
        "not_accepted": "Not yet accepted.",
        "footer": "Contract {number} version {version} · fingerprint {sha} · page {page}",
        "fixed": "The interest rate is fixed for the whole term. No other charges apply.",
        "allocation": "Payments pay, in this order: {order}.",
        "components": {"penalty": "late charges", "fee": "fees", "interest": "interest", "principal": "principal"},
    },
    "zh-hans": {
        "title": "分期借款合同", "number": "合同编号", "version": "版本",
        "parties": "合同双方", "lender": "贷款人", "borrower": "借款人", "id": "证件号码", "address": "地址",
        "counter": "本方案为贷款人根据审核结果调整后的方案（与您申请的方案不同）。",
        "key_facts": "主要条款", "product": "产品", "plan_type": "还款方式",
        "amount_financed": "借款本金", "net_disbursed": "实际到账金额", "term": "期数",
        "annual_rate": "名义年利率", "apr": "年化费率（APR）", "ear": "实际年利率",
        "total_interest": "利息合计", "total_fees": "费用合计", "total_payable": "应还总额", "fees": "全部费用",
        "fee_upfront": "放款时一次性收取的手续费", "fee_upfront_financed": "（计入借款本金）",
        "fee_per_installment": "每期服务费", "no_fees": "无任何费用。", "fee": "费用", "each": "每次",
        "times": "次数", "total": "合计", "schedule": "还款计划", "number_short": "期",
        "due_date": "还款日", "payment": "应还金额", "principal": "本金", "interest": "利息", "balance": "剩余本金",
        "schedule_note": "以上还款日按 {date} 放款计算；实际还款日以实际放款日为准，每期金额不变。",
        "early": "提前还款",
        "early_rebate": "您可随时提前还款，只需偿还剩余本金及截至还款日的应计利息，未发生的利息不收取。",
        "early_no_rebate": "您可随时提前还款，需偿还剩余本金及当期利息。",
        "early_fee": "提前还款手续费：提前偿还本金的 {rate}%。", "early_no_fee": "提前还款不收取手续费。",
        "early_discount": "一次性提前结清优惠：{window}一次性还清全部借款时，结清报价中仍需支付的利息减免 {rate}%。",
        "early_discount_window": "放款后 {months} 个月内",
        "late": "逾期还款",
        "late_fee": "逾期费：每期逾期收取一次 {fee} {currency}。",
        "late_penalty": "罚息：按逾期本金年利率 {rate}% 逐日计算。",
        "late_grace": "某期逾期超过 {days} 天后开始收取逾期费用，自该期还款日起算。",
        "late_cap": "上限：每期逾期费用合计不超过其逾期金额按年利率 {cap}%（法定最高年化费率）计算的金额。",
        "acceptance": "合同确认", "accepted": "已于 {when} 通过 IP 地址 {ip} 电子确认。", "not_accepted": "尚未确认。",
        "footer": "合同 {number} 版本 {version} · 指纹 {sha} · 第 {page} 页",
        "fixed": "借款期内利率固定不变，除上述费用外不收取任何其他费用。",
        "allocation": "还款依次冲抵：{order}。",
        "components": {"penalty": "逾期费用", "fee": "服务费", "interest": "利息", "principal": "本金"},
    },
}


def _cjk_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


def contract_pdf(contract: Contract) -> bytes:
    """The contract as a PDF (A4), from its stored disclosure, in its language.

    Page streams are left uncompressed so figures such as the APR can be found in the bytes (the
    contract is a few pages). Chinese text is set in the built-in CID font STSong-Light; figures
    in Helvetica in both languages."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    d = contract.disclosure
    language = "zh-hans" if contract.language.startswith("zh") else "en"
    t = PDF_TEXTS[language]
    font = _cjk_font() if language == "zh-hans" else "Helvetica"
    bold = font if language == "zh-hans" else "Helvetica-Bold"
    currency = d.get("currency", "")

    def num(value) -> str:
        """Figures always in Helvetica, so they read the same (and are searchable) in both languages."""
        return f'<font name="Helvetica">{escape(str(value))}</font>'

    def fill(template: str, **values) -> str:
        return escape(template).format(**{k: num(v) for k, v in values.items()})

    body = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=13, wordWrap="CJK" if font == CJK_FONT else None)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10)
    heading = ParagraphStyle("heading", parent=body, fontName=bold, fontSize=12, leading=16, spaceBefore=8,
                             spaceAfter=4)
    title = ParagraphStyle("title", parent=body, fontName=bold, fontSize=16, leading=20, spaceAfter=4)

    def p(text: str, style=body) -> Paragraph:
        return Paragraph(text, style)

    def grid(rows, widths, header=True):
        table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
        style = [("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                 ("FONTNAME", (0, 0), (-1, -1), font), ("FONTSIZE", (0, 0), (-1, -1), 8)]
        if header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")))
        table.setStyle(TableStyle(style))
        return table

    story = [
        p(escape(t["title"]), title),
        p(f"{escape(t['number'])} {num(d['contract_number'])} · {escape(t['version'])} {num(contract.version)}"),
        p(escape(t["parties"]), heading),
        p(f"{escape(t['lender'])}: {escape(d['lender'])}"),
        p(f"{escape(t['borrower'])}: {escape(d['customer']['name'])} · {escape(t['id'])} "
          f"{num(d['customer']['id_number_masked'])}"),
    ]
    if d["customer"].get("address"):
        story.append(p(f"{escape(t['address'])}: {escape(d['customer']['address'])}"))
    if d.get("counter_offer"):
        story.append(p(escape(t["counter"])))
    facts = [
        (t["product"], escape(d["product"]["name"])),
        (t["plan_type"], escape(d["method_name"])),
        (t["amount_financed"], num(f"{d['amount_financed']} {currency}")),
        (t["net_disbursed"], num(f"{d['net_disbursed']} {currency}")),
        (t["term"], num(d["installment_count"])),
        (t["annual_rate"], num(f"{d['annual_rate']}%")),
        (t["apr"], num(f"{d['apr']}%")),
        (t["ear"], num(f"{d['effective_annual_rate']}%")),
        (t["total_interest"], num(f"{d['total_interest']} {currency}")),
        (t["total_fees"], num(f"{d['total_fees']} {currency}")),
        (t["total_payable"], num(f"{d['total_payable']} {currency}")),
    ]
    story += [p(escape(t["key_facts"]), heading),
              grid([[p(escape(label)), p(value)] for label, value in facts], [70 * mm, 100 * mm], header=False),
              Spacer(1, 2 * mm), p(escape(t["fixed"]), small)]

    story.append(p(escape(t["fees"]), heading))
    if d["fees"]:
        rows = [[p(escape(t["fee"])), p(escape(t["each"])), p(escape(t["times"])), p(escape(t["total"]))]]
        for fee in d["fees"]:
            label = t["fee_upfront"] if fee["code"] == "upfront" else t["fee_per_installment"]
            if fee.get("financed"):
                label += " " + t["fee_upfront_financed"]
            rows.append([p(escape(label)), p(num(fee["amount"])), p(num(fee["count"])), p(num(fee["total"]))])
        story.append(grid(rows, [80 * mm, 30 * mm, 25 * mm, 35 * mm]))
    else:
        story.append(p(escape(t["no_fees"])))

    story.append(p(escape(t["schedule"]), heading))
    rows = [[p(escape(t[k])) for k in ("number_short", "due_date", "payment", "principal", "interest", "fee",
                                         "balance")]]
    for row in d["installments"]:
        rows.append([p(num(row[k])) for k in ("number", "due_date", "payment", "principal", "interest", "fee",
                                               "balance")])
    story.append(grid(rows, [12 * mm, 26 * mm, 26 * mm, 26 * mm, 26 * mm, 20 * mm, 28 * mm]))
    if d.get("assumed_disbursement_date"):
        story.append(p(fill(t["schedule_note"], date=d["assumed_disbursement_date"]), small))

    early, late = d["early_payoff"], d["late_payment"]
    story += [p(escape(t["early"]), heading),
              p(escape(t["early_rebate"] if early["interest_rebate"] else t["early_no_rebate"]))]
    story.append(p(fill(t["early_fee"], rate=early["fee_rate"]) if Decimal(early["fee_rate"]) else escape(t["early_no_fee"])))
    if Decimal(early.get("discount_rate") or "0"):
        window = (t["early_discount_window"].format(months=early["discount_months"])
                  if early.get("discount_months") else "")
        story.append(p(escape(t["early_discount"].format(rate=early["discount_rate"], window=window))))
    story += [p(escape(t["late"]), heading),
              p(fill(t["late_fee"], fee=late["late_fee"], currency=currency)),
              p(fill(t["late_penalty"], rate=late["penalty_rate_applied"])),
              p(fill(t["late_grace"], days=late["grace_days"])),
              p(fill(t["late_cap"], cap=late["cap_rate"])),
              p(escape(t["allocation"].format(order=("、" if language == "zh-hans" else ", ").join(
                  t["components"].get(c, c) for c in late.get("allocation_order", DEFAULT_ALLOCATION_ORDER)))))]

    story.append(p(escape(t["acceptance"]), heading))
    if contract.accepted_at:
        when = timezone.localtime(contract.accepted_at).strftime("%Y-%m-%d %H:%M:%S %Z")
        story.append(p(fill(t["accepted"], when=when, ip=contract.accepted_ip or "-")))
    else:
        story.append(p(escape(t["not_accepted"])))

    footer = t["footer"]

    def on_page(canvas, doc):
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawString(18 * mm, 10 * mm, footer.format(number=d["contract_number"], version=contract.version,
                                                          sha=contract.content_sha256[:16], page=doc.page))
        canvas.restoreState()

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm, bottomMargin=18 * mm,
        title=f"{t['title']} {d['contract_number']} v{contract.version}", author=d["lender"],
        subject=f"APR {d['apr']}%", pageCompression=0, invariant=1, lang="zh-CN" if language == "zh-hans" else "en",
    )
    document.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


def contract_filename(contract: Contract) -> str:
    return f"contract-{contract.application.number}-v{contract.version}.pdf"
