"""Email over SMTP (aiosmtplib): a multipart/alternative mail (plain text + HTML) per event.

`opened` mails carry a fresh Message-ID, returned as the ref; later events of the incident set
In-Reply-To / References to it so mail clients thread them. STARTTLS (`starttls`, required when set: a
server that does not offer it is an error, not a silent downgrade) or implicit TLS (`ssl`); login when a
username is set, the password coming from its secret reference. Everything from an alert is HTML-escaped.

Errors: SMTP 4xx replies, timeouts and connection failures are retryable; 5xx replies (a refused login,
refused recipients, a rejected message), a server without STARTTLS and an unverifiable certificate are not.
"""

from __future__ import annotations

import html
from datetime import UTC
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from ssl import SSLCertVerificationError, SSLContext
from typing import ClassVar

import aiosmtplib
from pydantic import SecretStr

from adapters.notify.base import (
    action_state,
    approval_hint,
    diagnosis_line,
    event_label,
    facts,
    headline,
    humanize,
    person_label,
    scrub,
    truncate,
)
from domain.notify import ChannelError, DeliveryRef, Notification, NotifyEvent
from domain.routing import DEFAULT_EVENTS, EmailChannel
from domain.routing import channel_events as _channel_events
from domain.settings import resolve_secret

SUBJECT_PREFIX = "[AI-SRE]"
SUBJECT_TITLE_CHARS = 200


def _one_line(text: str) -> str:
    # A CR/LF in a header value would start a new header (header injection); collapse all whitespace.
    return " ".join(text.split())


def subject(note: Notification) -> str:
    """`[AI-SRE] [CRITICAL] #42 Checkout latency high — opened`."""
    title = truncate(note.title, SUBJECT_TITLE_CHARS)
    return _one_line(
        f"{SUBJECT_PREFIX} {headline(note.model_copy(update={'title': title}))} — {event_label(note.event)}"
    )


def recipients(note: Notification, *, to: list[str], page_people: bool) -> list[str]:
    """`to`, plus the paged people's addresses for an escalation when page_people is set; no duplicates."""
    wanted = list(to)
    if note.event is NotifyEvent.escalated and page_people:
        wanted.extend(p.email for p in note.paged if p.email)
    seen: set[str] = set()
    out: list[str] = []
    for address in wanted:
        clean = _one_line(address)
        key = parseaddr(clean)[1].lower() or clean.lower()
        if clean and key not in seen:
            seen.add(key)
            out.append(clean)
    return out


def _http_url(url: str | None) -> str | None:
    # Only http(s) links become anchors: a `javascript:` URL from a config typo must not be clickable.
    return url if url and url.lower().startswith(("http://", "https://")) else None


def text_body(note: Notification) -> str:
    """The text/plain part."""
    lines = [headline(note), "", note.text, ""]
    if note.event is not NotifyEvent.digest:
        lines.extend(f"{key}: {value}" for key, value in facts(note))
        if note.incident_id is not None:
            lines.append(f"Incident: #{note.incident_id}" + (f" {note.url}" if note.url else ""))
        lines.append("")
    detail = diagnosis_line(note)
    if note.diagnosis_summary or detail:
        lines.append("Diagnosis" + (f" ({detail})" if detail else "") + ":")
        if note.diagnosis_summary:
            lines.append(note.diagnosis_summary)
        lines.append("")
    if note.actions:
        lines.append("Actions:")
        for action in note.actions:
            lines.append(
                f"- {action.description}: {action_state(action)} ({action.kind}, policy: {humanize(action.decision)})"
            )
        if any(a.pending for a in note.actions):
            lines.append(approval_hint(note))
        lines.append("")
    if note.event is NotifyEvent.escalated and note.paged:
        level = f"level {note.level}" if note.level is not None else "escalation"
        lines += [f"Paged ({level}): " + ", ".join(person_label(p) for p in note.paged), ""]
    if note.markdown:
        lines += [note.markdown.rstrip(), ""]
    if note.url:
        lines += [f"Open: {note.url}", ""]
    lines += ["-- ", "AI-SRE"]
    return "\n".join(lines) + "\n"


def html_body(note: Notification) -> str:
    """The text/html part; every value is escaped."""
    e = html.escape
    url = _http_url(note.url)
    parts = [
        "<!DOCTYPE html>",
        '<html><body style="font-family: sans-serif; font-size: 14px;">',
        f"<h2>{e(headline(note))}</h2>",
        f"<p>{e(note.text)}</p>",
    ]
    if note.event is not NotifyEvent.digest:
        rows = facts(note)
        parts.append('<table cellpadding="4" style="border-collapse: collapse;">')
        for key, value in rows:
            parts.append(f'<tr><th align="left">{e(key)}</th><td>{e(value)}</td></tr>')
        if note.incident_id is not None:
            label = e(f"#{note.incident_id}")
            cell = f'<a href="{e(url, quote=True)}">{label}</a>' if url else label
            parts.append(f'<tr><th align="left">Incident</th><td>{cell}</td></tr>')
        parts.append("</table>")
    detail = diagnosis_line(note)
    if note.diagnosis_summary or detail:
        parts.append(f"<h3>Diagnosis{e(f' ({detail})') if detail else ''}</h3>")
        if note.diagnosis_summary:
            parts.append(f"<p>{e(note.diagnosis_summary)}</p>")
    if note.actions:
        parts.append("<h3>Actions</h3><ul>")
        for action in note.actions:
            parts.append(
                f"<li><b>{e(action.description)}</b>: {e(action_state(action))} "
                f"({e(action.kind)}, policy: {e(humanize(action.decision))})</li>"
            )
        parts.append("</ul>")
        if any(a.pending for a in note.actions):
            parts.append(f"<p>{e(approval_hint(note))}</p>")
    if note.event is NotifyEvent.escalated and note.paged:
        level = f"level {note.level}" if note.level is not None else "escalation"
        parts.append(f"<p><b>Paged ({e(level)}):</b> {e(', '.join(person_label(p) for p in note.paged))}</p>")
    if note.markdown:
        parts.append(f'<pre style="white-space: pre-wrap; font-family: monospace;">{e(note.markdown)}</pre>')
    if url:
        parts.append(f'<p><a href="{e(url, quote=True)}">Open the incident</a></p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def build_message(note: Notification, *, sender: str, to: list[str], card: DeliveryRef | None) -> EmailMessage:
    """The mail for one event, threaded under `card` (the opening mail's Message-ID) when given."""
    message = EmailMessage()
    message["Subject"] = subject(note)
    message["From"] = _one_line(sender)
    message["To"] = ", ".join(to)
    at = note.at if note.at.tzinfo is not None else note.at.replace(tzinfo=UTC)
    message["Date"] = format_datetime(at)
    # The sender's domain, not socket.getfqdn(): a container's hostname leaks and can block on DNS.
    domain = parseaddr(sender)[1].rpartition("@")[2] or "ai-sre.invalid"
    tag = f"incident-{note.incident_id}" if note.incident_id is not None else "digest"
    message["Message-ID"] = make_msgid(idstring=tag, domain=domain)
    if card is not None and card.message_id:
        message["In-Reply-To"] = card.message_id
        message["References"] = card.message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the incident mails
    if note.incident_id is not None:
        message["X-AI-SRE-Incident"] = str(note.incident_id)
    message.set_content(text_body(note))
    message.add_alternative(html_body(note), subtype="html")
    return message


class EmailNotifier:
    """An SMTP channel."""

    slug: ClassVar[str] = "email"

    def __init__(
        self,
        *,
        name: str,
        smtp_host: str,
        sender: str,
        to: list[str] | None = None,
        smtp_port: int = 587,
        starttls: bool = True,
        ssl: bool = False,
        username: str | None = None,
        password: SecretStr | None = None,
        page_people: bool = True,
        timeout_seconds: float = 10.0,
        events: frozenset[NotifyEvent] | None = None,
        tls_context: SSLContext | None = None,
    ) -> None:
        if starttls and ssl:
            raise ValueError("email: choose ssl (implicit TLS) or starttls, not both")
        self.name = name
        self.events = events if events is not None else DEFAULT_EVENTS["email"] | {NotifyEvent.digest}
        self.smtp_host = smtp_host
        self.smtp_port = smtp_port
        self.starttls = starttls
        self.use_tls = ssl
        self.username = username
        self.sender = sender
        self.to = list(to or [])
        self.page_people = page_people
        self.timeout_seconds = timeout_seconds
        self._password = password
        self._tls_context = tls_context  # None: the system trust store (SSL_CERT_FILE honoured)
        self.where = f"email channel {name!r} (SMTP {smtp_host}:{smtp_port})"

    @classmethod
    def from_spec(cls, name: str, spec: EmailChannel) -> EmailNotifier:
        """Build from routing.yaml, resolving the password reference now."""
        password = None
        if spec.password is not None:
            password = resolve_secret(spec.password, f"channel {name!r} (email) password {spec.password}")
        return cls(
            name=name,
            smtp_host=spec.smtp_host,
            smtp_port=spec.smtp_port,
            starttls=spec.starttls,
            ssl=spec.ssl,
            username=spec.username,
            password=password,
            sender=spec.sender,
            to=spec.to,
            page_people=spec.page_people,
            timeout_seconds=spec.timeout_seconds,
            events=_channel_events(spec),
        )

    async def send(self, note: Notification, *, card: DeliveryRef | None) -> DeliveryRef | None:
        """Mail the event; the first mail of an incident (or one sent without a card) returns its Message-ID.

        An event with nobody to tell (no `to`, and not an escalation that paged someone with an address)
        sends nothing.
        """
        to = recipients(note, to=self.to, page_people=self.page_people)
        if not to:
            return None
        thread = card if note.event is not NotifyEvent.opened else None
        message = build_message(note, sender=self.sender, to=to, card=thread)
        envelope = [parseaddr(a)[1] or a for a in to]
        try:
            async with self._smtp() as smtp:
                # send_message flattens with CRLF and falls back to 7-bit encodings without 8BITMIME.
                await smtp.send_message(message, sender=parseaddr(self.sender)[1] or self.sender, recipients=envelope)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._error(exc) from None
        if note.incident_id is None or (thread is not None and thread.message_id):
            return None
        return DeliveryRef(channel=self.name, message_id=str(message["Message-ID"]))

    async def health(self) -> None:
        """Connect, STARTTLS / TLS, log in, QUIT."""
        try:
            async with self._smtp() as smtp:
                await smtp.noop()
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._error(exc) from None

    async def aclose(self) -> None:
        """Nothing to close: each send opens and closes its own SMTP session."""
        return None

    def _smtp(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.smtp_host,
            port=self.smtp_port,
            use_tls=self.use_tls,
            start_tls=self.starttls if not self.use_tls else False,
            username=self.username,
            password=self._password.get_secret_value() if self._password is not None else None,
            timeout=self.timeout_seconds,
            tls_context=self._tls_context,
        )

    def _error(self, exc: BaseException) -> ChannelError:
        secrets = [self._password.get_secret_value()] if self._password is not None else []
        text = " ".join(str(exc).split()) or type(exc).__name__
        retryable: bool
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            refused = exc.recipients
            retryable = any(400 <= r.code < 500 for r in refused)
            detail = "; ".join(f"{r.recipient}: {r.code} {' '.join(r.message.split())}" for r in refused[:5])
            reason = f"every recipient was refused: {detail}"
        elif isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code > 0:
            retryable = 400 <= exc.code < 500
            reason = f"the server answered {exc.code} {' '.join(exc.message.split())}"
            if isinstance(exc, aiosmtplib.SMTPAuthenticationError) or exc.code in {530, 534, 535}:
                reason += " (check the username and the password reference)"
        elif isinstance(exc, TimeoutError):
            retryable = True
            reason = f"no answer within {self.timeout_seconds:g} s (timeout_seconds)"
        elif _certificate_problem(exc):
            retryable = False
            reason = f"the server's TLS certificate cannot be verified: {text}"
        elif isinstance(exc, OSError):
            retryable = True
            reason = f"cannot connect or lost the connection: {text}"
        else:
            # SMTPException without a reply code: the server lacks something we require (STARTTLS, AUTH).
            retryable = False
            reason = text
            if "STARTTLS" in text.upper():
                reason += " (the channel requires STARTTLS; use ssl: true for implicit TLS on port 465)"
            elif "AUTH" in text.upper():
                reason += " (the server offers no login on this connection; it may require TLS first)"
        return ChannelError(scrub(f"{self.where}: {reason}", secrets), retryable=retryable)


def _certificate_problem(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
