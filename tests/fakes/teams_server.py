"""A local server that receives Microsoft Teams incoming-webhook posts, both kinds.

What it follows (learn.microsoft.com, "Create an Incoming Webhook" / "Workflows" and the Adaptive Card
schema): `POST` a JSON `{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": {AdaptiveCard}}]}`.

- Legacy Office 365 connector URL (`/webhookb2/<guid>@<guid>/IncomingWebhook/<id>/<guid>`): 200 with body
  `1`; 400 `Bad payload received by generic incoming webhook.` for a body it cannot read; 404 for an
  unknown/removed webhook; 413 over 28 KB. When Teams itself throttles the connector, the connector
  answers 200 with the text "Webhook message delivery failed with error: Microsoft Teams endpoint returned
  HTTP error 429 ..." (`throttle_connector()`).
- Workflows URL (`/workflows/<id>/triggers/manual/paths/invoke?api-version=1&sig=<sig>`): 202 with an
  empty body; 400 JSON error for unreadable JSON; 401 for a wrong `sig`; 404 for an unknown workflow.

Card validation (both kinds, so a malformed card fails the test instead of rendering blank in Teams):
`type: AdaptiveCard`, a `version`, `body` of known elements (TextBlock with non-empty `text`, FactSet of
string `title`/`value` pairs, Container/ColumnSet/Image), `actions` of Action.OpenUrl with a `url`.

    with FakeTeams() as teams:
        ...  # TeamsNotifier(url=SecretStr(teams.legacy_url))
        card = teams.cards[-1]
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from tests.fakes.http import FakeHTTPServer, RecordedRequest, Reply

LEGACY_PATH = (
    "/webhookb2/11111111-2222-3333-4444-555555555555@66666666-7777-8888-9999-000000000000"
    "/IncomingWebhook/0123456789abcdef0123456789abcdef/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
)
WORKFLOW_PATH = "/workflows/0f0f0f0f0f0f4f0f8f0f0f0f0f0f0f0f/triggers/manual/paths/invoke"
WORKFLOW_SIG = "Zm9vYmFyYmF6cXV4c2lnbmF0dXJlMTIzNDU2Nzg5"
MAX_BYTES = 28 * 1024
ADAPTIVE = "application/vnd.microsoft.card.adaptive"


def card_errors(payload: Any) -> list[str]:
    """What is wrong with a webhook payload (empty when Teams would render it)."""
    if not isinstance(payload, dict):
        return ["payload is not an object"]
    errors: list[str] = []
    if payload.get("type") != "message":
        errors.append("type must be 'message'")
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return [*errors, "attachments must be a non-empty array"]
    for i, attachment in enumerate(attachments):
        if not isinstance(attachment, dict) or attachment.get("contentType") != ADAPTIVE:
            errors.append(f"attachments[{i}].contentType must be {ADAPTIVE}")
            continue
        content = attachment.get("content")
        if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
            errors.append(f"attachments[{i}].content.type must be AdaptiveCard")
            continue
        if not isinstance(content.get("version"), str):
            errors.append(f"attachments[{i}].content.version is required")
        body = content.get("body")
        if not isinstance(body, list):
            errors.append(f"attachments[{i}].content.body must be an array")
        else:
            errors.extend(_element_errors(body, f"attachments[{i}].content.body"))
        for j, action in enumerate(content.get("actions") or []):
            if not isinstance(action, dict) or action.get("type") != "Action.OpenUrl":
                errors.append(f"attachments[{i}].content.actions[{j}]: only Action.OpenUrl works in a webhook card")
            elif not isinstance(action.get("url"), str) or not action["url"]:
                errors.append(f"attachments[{i}].content.actions[{j}].url is required")
    return errors


def _element_errors(elements: list[Any], where: str) -> list[str]:
    errors: list[str] = []
    for k, element in enumerate(elements):
        here = f"{where}[{k}]"
        kind = element.get("type") if isinstance(element, dict) else None
        if kind == "TextBlock":
            if not isinstance(element.get("text"), str) or not element["text"]:
                errors.append(f"{here}.text must be a non-empty string")
        elif kind == "FactSet":
            facts = element.get("facts")
            if not isinstance(facts, list) or not all(
                isinstance(f, dict) and isinstance(f.get("title"), str) and isinstance(f.get("value"), str)
                for f in facts
            ):
                errors.append(f"{here}.facts must be {{title, value}} strings")
        elif kind == "Container":
            errors.extend(_element_errors(element.get("items") or [], f"{here}.items"))
        elif kind not in {"ColumnSet", "Image", "RichTextBlock"}:
            errors.append(f"{here}: unknown element type {kind!r}")
    return errors


class FakeTeams(FakeHTTPServer):
    """The server; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[dict[str, Any]] = []
        self._failures: deque[Reply] = deque()

    # --- test API ---------------------------------------------------------------------------------

    @property
    def legacy_url(self) -> str:
        """A legacy connector webhook URL."""
        return f"{self.url}{LEGACY_PATH}"

    @property
    def workflow_url(self) -> str:
        """A Workflows webhook URL (the signature is in the query string)."""
        return f"{self.url}{WORKFLOW_PATH}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={WORKFLOW_SIG}"

    @property
    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards (attachment content) received, oldest first."""
        with self._lock:
            return [p["attachments"][0]["content"] for p in self.payloads]

    def fail_next(self, status: int = 429, *, times: int = 1, retry_after: int | None = None) -> None:
        """Answer the next `times` posts with `status` (and Retry-After when given)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = {400: "Bad payload received by generic incoming webhook.", 429: "Too Many Requests"}.get(
            status, "Internal Server Error" if status >= 500 else "Error"
        )
        with self._lock:
            self._failures.extend(Reply(status, body, content_type="text/plain", headers=headers) for _ in range(times))

    def throttle_connector(self, status: int = 429) -> None:
        """The legacy connector's next answer: HTTP 200 whose text says Teams returned `status`."""
        text = (
            "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error "
            f"{status} with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef.0.."
        )
        with self._lock:
            self._failures.append(Reply(200, text, content_type="text/plain"))

    # --- request handling -------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Reply:
        legacy = request.path == LEGACY_PATH
        workflow = request.path == WORKFLOW_PATH
        if request.method != "POST" or not (legacy or workflow):
            return Reply(404, "Not Found", content_type="text/plain")
        if workflow and request.param("sig") != WORKFLOW_SIG:
            return Reply(
                401,
                json.dumps(
                    {
                        "error": {
                            "code": "DirectApiAuthorizationRequired",
                            "message": "The request must be authenticated only by Shared Access scheme.",
                        }
                    }
                ),
            )
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            return failure
        if len(request.body) > MAX_BYTES:
            return Reply(413, "Request Entity Too Large", content_type="text/plain")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return self._bad(legacy, "content type must be application/json")
        try:
            payload = json.loads(request.body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._bad(legacy, "invalid JSON")
        errors = card_errors(payload)
        if errors:
            return self._bad(legacy, "; ".join(errors))
        with self._lock:
            self.payloads.append(payload)
        return Reply(200, "1", content_type="text/plain") if legacy else Reply(202, "", content_type="text/plain")

    @staticmethod
    def _bad(legacy: bool, why: str) -> Reply:
        if legacy:
            return Reply(400, "Bad payload received by generic incoming webhook.", content_type="text/plain")
        return Reply(400, json.dumps({"error": {"code": "InvalidRequestContent", "message": why}}))
