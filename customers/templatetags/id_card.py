"""`{% id_card_panel profile %}`: the ID card as read by OCR, for pages that show a customer's file
(the staff application page includes it with one line, no view change)."""

from django import template

from customers.ocr.services import id_card_summary

register = template.Library()


@register.inclusion_tag("customers/_id_card_reading.html")
def id_card_panel(profile, staff: bool = True) -> dict:
    return {"id_card": id_card_summary(profile), "staff": staff}
