"""Pluggable delivery of customer messages: one backend per channel, chosen in settings.

    COLLECTIONS_EMAIL_BACKEND  default "customers.notifications.DjangoEmailBackend"
                               (Django's e-mail: EMAIL_URL, console in development, SMTP in production)
    COLLECTIONS_SMS_BACKEND    default "customers.notifications.ConsoleSmsBackend"
                               production: "customers.notifications.HttpSmsBackend"
                               (COLLECTIONS_SMS_URL, COLLECTIONS_SMS_TOKEN, COLLECTIONS_SMS_SENDER)
    COLLECTIONS_OUTBOX_DIR     where FileBackend writes (default BASE_DIR / "outbox")

A backend's `send(message)` returns the provider's reference and raises on failure
(ConnectionError / TimeoutError / OSError are retried by the task). Backends never decide whether
to send: claiming the reminder row, exactly once, is `collections_app.collections.reminders`' job.
"""

from __future__ import annotations

import json
import logging
import sys
import urllib.error
import urllib.request
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils.module_loading import import_string

from customers.pii import mask_phone, mask_text

logger = logging.getLogger(__name__)

DEFAULT_BACKENDS = {
    "email": "customers.notifications.DjangoEmailBackend",
    "sms": "customers.notifications.ConsoleSmsBackend",
}


@dataclass(frozen=True)
class OutgoingMessage:
    channel: str
    to: str
    subject: str
    body: str
    reference: str  # our id, e.g. "reminder-42"; providers echo it back


class Backend(ABC):
    @abstractmethod
    def send(self, message: OutgoingMessage) -> str:
        """Deliver the message; return the provider's reference; raise when it was not accepted."""


class DjangoEmailBackend(Backend):
    """E-mail through Django's configured e-mail backend (EMAIL_URL: console, SMTP, ...)."""

    def send(self, message: OutgoingMessage) -> str:
        email = EmailMessage(subject=message.subject, body=message.body, to=[message.to],
                             headers={"X-Reference": message.reference})
        email.send(fail_silently=False)
        return email.extra_headers.get("Message-ID", "") or message.reference


class SmsProvider(Backend):
    """The interface an SMS provider implements: `send_sms(to, body, reference) -> provider id`."""

    def send(self, message: OutgoingMessage) -> str:
        return self.send_sms(message.to, message.body, message.reference)

    @abstractmethod
    def send_sms(self, to: str, body: str, reference: str) -> str: ...


class ConsoleSmsBackend(SmsProvider):
    """Development: print the SMS to standard output, phone (and ID, card) numbers masked."""

    def send_sms(self, to: str, body: str, reference: str) -> str:
        sys.stdout.write(f"[SMS to {mask_phone(to)}] {mask_text(body)}\n")
        return f"console-{reference}"


class HttpSmsBackend(SmsProvider):
    """A generic JSON-over-HTTPS SMS gateway: POST {to, text, sender, reference} with a bearer token.
    Most Chinese SMS gateways accept this shape behind a small adapter; replace it per provider."""

    def send_sms(self, to: str, body: str, reference: str) -> str:
        url = getattr(settings, "COLLECTIONS_SMS_URL", "")
        if not url:
            raise ConnectionError("COLLECTIONS_SMS_URL is not set")
        payload = json.dumps({"to": to, "text": body, "reference": reference,
                              "sender": getattr(settings, "COLLECTIONS_SMS_SENDER", "")}).encode()
        request = urllib.request.Request(url, data=payload, method="POST", headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {getattr(settings, 'COLLECTIONS_SMS_TOKEN', '')}",
        })
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - configured https URL
                answer = json.loads(response.read() or b"{}")
        except urllib.error.URLError as error:
            raise ConnectionError(f"SMS gateway unreachable: {error}") from error
        return str(answer.get("id") or answer.get("message_id") or reference)


class FileBackend(Backend):
    """Development and tests: one file per message in COLLECTIONS_OUTBOX_DIR (any channel)."""

    def send(self, message: OutgoingMessage) -> str:
        outbox = Path(getattr(settings, "COLLECTIONS_OUTBOX_DIR", settings.BASE_DIR / "outbox"))
        outbox.mkdir(parents=True, exist_ok=True)
        name = f"{message.channel}-{message.reference}-{uuid.uuid4().hex[:8]}.txt"
        (outbox / name).write_text(f"To: {message.to}\nSubject: {message.subject}\n\n{message.body}\n",
                                   encoding="utf-8")
        return name


def backend_for(channel: str) -> Backend:
    path = getattr(settings, f"COLLECTIONS_{channel.upper()}_BACKEND", None) or DEFAULT_BACKENDS[channel]
    return import_string(path)()
