"""Customer self-service under /me/: the account centre, the application wizard, offers, contracts
and the customer's plans. It sits above customers, installments, scoring and collections_app and
uses their services; nothing below imports it (pyproject.toml, import-linter)."""
