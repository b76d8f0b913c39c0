from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CollectionsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "collections_app"
    verbose_name = _("Servicing and collections")

    def ready(self) -> None:
        # Origination discloses the servicing terms in contracts without importing this app
        # (installments.hooks): give it the product's servicing policy.
        from installments import hooks

        hooks.provide_servicing_terms(_servicing_terms)


def _servicing_terms(product):
    from collections_app.servicing.policy import policy_for
    from installments.hooks import DEFAULT_ALLOCATION_ORDER, ServicingTerms

    policy = policy_for(product)
    return ServicingTerms(grace_days=int(policy.late_fee_grace_days or 0),
                          allocation_order=tuple(policy.allocation_order or DEFAULT_ALLOCATION_ORDER))
