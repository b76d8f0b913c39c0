"""A logging filter that masks ID, card and mobile numbers in every record before it is written.

Only numbers that are one are masked: an 18-character ID number with a valid GB 11643 check
character, a card number passing the Luhn check, a mainland mobile number (`customers.pii.mask_text`);
timings, amounts and references stay readable. A traceback attached to the record is masked too.
"""

import logging

from customers.pii import mask_text

_FORMATTER = logging.Formatter()


class MaskPIIFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not stop logging
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            try:
                record.exc_text = _FORMATTER.formatException(record.exc_info)
            except Exception:  # the handler's own formatter will try again
                return True
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True
