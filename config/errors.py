"""Domain errors raised by services; the API and views turn them into field-named messages."""


class DomainError(Exception):
    """A business rule refused the request. `field` names the input at fault (None: the whole request)."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code

    def as_dict(self) -> dict:
        return {self.field or "non_field_errors": [self.message]}
