"""Customer self-service routes, under /me/ (config.urls): namespace `portal`."""

from django.urls import path

from portal import views as portal

app_name = "portal"

urlpatterns = [
    path("", portal.account, name="account"),
    path("notifications/", portal.notifications, name="notifications"),
    # The online application wizard.
    path("apply/", portal.apply_start, name="apply"),
    path("apply/discard/", portal.apply_discard, name="apply_discard"),
    path("apply/check/id-number/", portal.check_id_number, name="check_id_number"),
    path("apply/check/amount/", portal.check_amount, name="check_amount"),
    path("apply/id-card/", portal.apply_id_card, name="apply_id_card"),
    path("apply/lines/<str:line_type>/add/", portal.apply_line_add, name="apply_line_add"),
    path("apply/lines/<str:line_type>/<int:pk>/remove/", portal.apply_line_remove, name="apply_line_remove"),
    path("apply/<str:step>/", portal.apply_step, name="apply_step"),
    # Applications after submission: assessment, offers, documents, contract, rating.
    path("applications/<int:pk>/", portal.application_detail, name="application"),
    path("applications/<int:pk>/status/", portal.application_status, name="application_status"),
    path("applications/<int:pk>/documents/", portal.application_documents, name="application_documents"),
    path("applications/<int:pk>/contract/", portal.contract_page, name="contract"),
    path("applications/<int:pk>/rate/<str:moment>/", portal.rate, name="rate"),
    path("offers/<int:pk>/schedule/", portal.offer_schedule, name="offer_schedule"),
    path("offers/<int:pk>/choose/", portal.offer_choose, name="offer_choose"),
    path("contracts/<int:pk>/pdf/", portal.contract_pdf, name="contract_pdf"),
    # Self-service on an active plan (the plan pages themselves are servicing's, /servicing/my/plans/).
    path("plans/<int:pk>/pay/", portal.plan_checkout, name="plan_checkout"),
    path("plans/<int:pk>/hardship/", portal.plan_hardship, name="plan_hardship"),
]
