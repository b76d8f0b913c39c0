"""Browser tests: finish a sign-up the way its owner does, by the link in the confirmation mail.

The live server runs in the test's process, so its mails land in Django's test outbox (locmem).
"""

import re

from django.core import mail

CONFIRM_LINK = re.compile(r"https?://[^/\s]+(/accounts/sign-up/confirm/\S+)")


def confirm_sign_up(page, email: str) -> None:
    """After the sign-up form: the "check your e-mail" page, then the link of the last mail to `email`,
    then its confirm button (the home page opens, signed in)."""
    page.wait_for_selector("#sign-up-done")
    message = next(m for m in reversed(mail.outbox) if email in m.to)
    page.goto(page.live_server_url + CONFIRM_LINK.search(message.body).group(1))
    page.click("#sign-up-confirm")
    page.wait_for_url(page.live_server_url + "/")
