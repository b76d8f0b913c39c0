"""The staff workbench, under /staff/ (config.urls; /staff/ itself is the staff home)."""

from django.urls import path

from installments.workbench import views as workbench

urlpatterns = [
    path("applications/", workbench.queue, name="workbench_queue"),
    path("applications/<int:pk>/", workbench.application_detail, name="workbench_application"),
    path("applications/<int:pk>/assign/", workbench.assign, name="workbench_assign"),
    path("applications/<int:pk>/start-review/", workbench.start_review, name="workbench_start_review"),
    path("applications/<int:pk>/request-documents/", workbench.request_documents,
         name="workbench_request_documents"),
    path("applications/<int:pk>/approve/", workbench.approve, name="workbench_approve"),
    path("applications/<int:pk>/counter-offer/", workbench.counter_offer, name="workbench_counter_offer"),
    path("applications/<int:pk>/decline/", workbench.decline, name="workbench_decline"),
    path("applications/<int:pk>/confirm/", workbench.confirm, name="workbench_confirm"),
    path("applications/<int:pk>/offers/<int:offer_pk>/choose/", workbench.offer_choose,
         name="workbench_offer_choose"),
    path("applications/<int:pk>/documents/<int:document_pk>/review/", workbench.document_review,
         name="workbench_document_review"),
    path("applications/<int:pk>/documents/<int:document_pk>/view/", workbench.document_inline,
         name="workbench_document_inline"),
    path("applications/<int:pk>/notes/", workbench.interview_note_add, name="workbench_interview_note_add"),
    path("applications/<int:pk>/contract/", workbench.contract_detail, name="workbench_contract"),
    path("applications/<int:pk>/contract/regenerate/", workbench.contract_regenerate,
         name="workbench_contract_regenerate"),
    path("applications/<int:pk>/contracts/<int:contract_pk>/pdf/", workbench.contract_pdf,
         name="workbench_contract_pdf"),
    path("applications/<int:pk>/activate/", workbench.activate, name="workbench_activate"),
    path("approvals/", workbench.approvals, name="workbench_approvals"),
    path("productivity/", workbench.productivity, name="workbench_productivity"),
]
