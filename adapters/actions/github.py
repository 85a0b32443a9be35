"""Config-fix pull requests over the GitHub REST API: change replicas or resource limits in a manifest.

The manifest is `action.path` (default `Settings.github_manifest_path` formatted with the namespace and
deployment) in `action.repository` (default `Settings.github_repository`), against
`Settings.github_base_branch`. The file may hold several YAML documents; only the Deployment named by
the action is edited, and only the changed values: the edit is made in the text at the positions PyYAML
reports for each node, so comments, key order, quoting and the other documents stay byte for byte.
Every edit is checked by parsing the result: the other documents must be unchanged and the Deployment
must differ exactly by the requested values, or the edit is refused (never a silent reformat).

Exactly once: the idempotency key lives in the branch name (`aisre/<slug>-<digest>`). `apply` resumes
any earlier partial attempt step by step — an existing pull request is the answer; an existing branch
(422 "Reference already exists") is reused; a branch that already holds the change is not committed
to again; a 422 "A pull request already exists" is resolved by looking the pull request up. `find`
reports a pull request for the branch (open, closed or merged) as already applied.

The token is sent as `Authorization: Bearer` and never appears in errors or logs.
"""

from __future__ import annotations

import base64
import copy
import difflib
import hashlib
import itertools
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import yaml
from pydantic import SecretStr

from adapters.actions.base import ActionError
from adapters.logs.base import retry_after_seconds
from domain.actions import ActionOutcome, ActionPlan, CatalogAction, SuggestConfigFix, Verification
from domain.settings import Settings

API_VERSION = "2022-11-28"
BRANCH_PREFIX = "aisre/"
RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")
SUPPORTED_CHANGES = (
    "replicas",
    *(f"resources.{kind}.{name}" for kind in ("limits", "requests") for name in RESOURCE_NAMES),
)

# A Kubernetes resource quantity (apimachinery's resource.Quantity, without the leading/trailing space).
_QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?")
_ERROR_CHARS = 300


# --- the manifest edit (pure) -----------------------------------------------------------------------


class ManifestError(ValueError):
    """The manifest cannot be edited as asked (no such Deployment or container, bad value, unsafe edit)."""


@dataclass(frozen=True)
class ManifestEdit:
    """The edited file and, per requested change, the value before ("" when absent) and after."""

    original: str
    text: str
    before: dict[str, str]
    after: dict[str, str]
    container: str | None

    @property
    def changed(self) -> bool:
        return self.text != self.original

    def diff(self, path: str) -> str:
        """A unified diff of the file, `a/<path>` -> `b/<path>`."""
        return "\n".join(
            difflib.unified_diff(
                self.original.splitlines(),
                self.text.splitlines(),
                fromfile=f"a/{path}",
                tofile=f"b/{path}",
                lineterm="",
            )
        )


def edit_manifest(
    text: str,
    *,
    deployment: str,
    changes: Mapping[str, str],
    container: str | None = None,
    namespace: str | None = None,
) -> ManifestEdit:
    """Apply `changes` to the Deployment `deployment` in a (multi-document) YAML file, preserving the rest."""
    if not changes:
        raise ManifestError("no changes requested")
    unknown = sorted(set(changes) - set(SUPPORTED_CHANGES))
    if unknown:
        raise ManifestError(f"unsupported change(s) {', '.join(unknown)}; supported: {', '.join(SUPPORTED_CHANGES)}")
    docs = _load_all(text)
    index = _find_deployment(docs, deployment, namespace)
    doc = docs[index]
    container_index, container_name = (None, None)
    if any(key != "replicas" for key in changes):
        container_index, container_name = _find_container(doc, deployment, container)
    expected = copy.deepcopy(doc)
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    new_text = text
    for key in sorted(changes):
        value = changes[key].strip()
        path = _path(key, container_index)
        current = _get(doc, path)
        before[key] = "" if current is None else str(current)
        root = list(yaml.compose_all(new_text, Loader=yaml.SafeLoader))[index]
        rendered = _render(key, value, _style(root, path))
        wanted = yaml.safe_load(rendered)
        after[key] = value
        if current == wanted:
            continue  # already there: no edit, so an unchanged file stays byte for byte
        new_text = _splice(new_text, root, path, rendered)
        _set(expected, path, wanted)
    try:
        new_docs = _load_all(new_text)
    except ManifestError as exc:
        raise ManifestError(f"the in-place edit would break the file ({exc}); refusing to guess") from None
    others_intact = len(new_docs) == len(docs) and all(new_docs[j] == docs[j] for j in range(len(docs)) if j != index)
    if not others_intact or new_docs[index] != expected:
        raise ManifestError("the in-place edit did not produce exactly the requested change; refusing to guess")
    return ManifestEdit(original=text, text=new_text, before=before, after=after, container=container_name)


def _load_all(text: str) -> list[Any]:
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ManifestError(f"not valid YAML: {exc}") from None


def _find_deployment(docs: list[Any], name: str, namespace: str | None) -> int:
    matches = []
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict) or doc.get("kind") != "Deployment":
            continue
        meta = doc.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
        if meta.get("name") != name:
            continue
        if namespace and meta.get("namespace") not in (None, namespace):
            continue
        matches.append(i)
    if not matches:
        raise ManifestError(f"no Deployment named {name!r} in the file")
    if len(matches) > 1:
        raise ManifestError(f"{len(matches)} Deployments named {name!r} in the file; set the path to a single one")
    return matches[0]


def _find_container(doc: dict[str, Any], deployment: str, container: str | None) -> tuple[int, str]:
    containers = _get(doc, ["spec", "template", "spec", "containers"])
    if not isinstance(containers, list) or not containers:
        raise ManifestError(f"Deployment {deployment!r} lists no containers")
    names = [str(c.get("name")) if isinstance(c, dict) else "?" for c in containers]
    if container is None:
        return 0, names[0]
    if container not in names:
        raise ManifestError(f"Deployment {deployment!r} has no container {container!r} (it has {', '.join(names)})")
    return names.index(container), container


def _path(key: str, container_index: int | None) -> list[str | int]:
    if key == "replicas":
        return ["spec", "replicas"]
    assert container_index is not None
    _, kind, name = key.split(".")
    return ["spec", "template", "spec", "containers", container_index, "resources", kind, name]


def _get(doc: Any, path: list[str | int]) -> Any:
    node = doc
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return None
        elif not isinstance(node, dict):
            return None
        node = node[part] if isinstance(part, int) else node.get(part)
    return node


def _set(doc: Any, path: list[str | int], value: Any) -> None:
    node = doc
    for part, following in itertools.pairwise(path):
        if isinstance(part, int):
            node = node[part]
        else:
            if not isinstance(node.get(part), dict | list):
                node[part] = {} if isinstance(following, str) else []
            node = node[part]
    node[path[-1]] = value


def _render(key: str, value: str, style: str | None) -> str:
    if key == "replicas":
        if not value.isdigit():
            raise ManifestError(f"replicas must be a whole number, not {value!r}")
        return str(int(value))
    if not _QUANTITY.fullmatch(value):
        raise ManifestError(f"{key} must be a Kubernetes quantity such as 500m, 1Gi or 0.5, not {value!r}")
    if style in {'"', "'"}:
        return f"{style}{value}{style}"  # keep the file's quoting; a quantity holds no quote characters
    return value


def _style(root: yaml.Node, path: list[str | int]) -> str | None:
    node = _node_at(root, path)
    return node.style if isinstance(node, yaml.ScalarNode) else None


def _node_at(root: yaml.Node, path: list[str | int]) -> yaml.Node | None:
    node: yaml.Node | None = root
    for part in path:
        if isinstance(part, int):
            node = node.value[part] if isinstance(node, yaml.SequenceNode) and part < len(node.value) else None
        elif isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
        else:
            node = None
        if node is None:
            return None
    return node


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _splice(text: str, root: yaml.Node, path: list[str | int], rendered: str) -> str:
    """Write `rendered` at `path`: replace the scalar, or insert the missing keys where they belong."""
    node: yaml.Node = root
    owner: yaml.Node | None = None  # the key whose value `node` is
    for i, part in enumerate(path):
        if isinstance(part, int):
            if not isinstance(node, yaml.SequenceNode) or part >= len(node.value):
                raise ManifestError(f"expected a list at {_dotted(path[:i])}")
            node, owner = node.value[part], None
            continue
        if _is_null(node):
            return _replace_with_block(text, node, owner, path[i:], rendered)
        if not isinstance(node, yaml.MappingNode):
            raise ManifestError(f"expected a mapping at {_dotted(path[:i]) or 'the document root'}")
        found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
        if found is None:
            return _insert(text, node, owner, path[i:], rendered)
        owner, node = found
    if not isinstance(node, yaml.ScalarNode):
        raise ManifestError(f"{_dotted(path)} is not a single value")
    start, end = node.start_mark.index, node.end_mark.index
    if node.style in {"|", ">"}:
        raise ManifestError(f"{_dotted(path)} is a block scalar; refusing to rewrite it")
    if start == end and text[start - 1 : start] == ":":
        rendered = " " + rendered  # `memory:` with no value
    return text[:start] + rendered + text[end:]


def _insert(text: str, mapping: yaml.MappingNode, owner: yaml.Node | None, rest: list[str | int], rendered: str) -> str:
    keys = [str(part) for part in rest]
    if mapping.flow_style:
        if not mapping.value:
            return _replace_with_block(text, mapping, owner, rest, rendered)
        at = int(mapping.value[-1][1].end_mark.index)  # a flow collection's end is after its closing bracket
        return text[:at] + ", " + _flow(keys, rendered) + text[at:]
    newline = "\r\n" if "\r\n" in text else "\n"
    block = _block(keys, rendered, mapping.value[0][0].start_mark.column, newline)
    at = _last_end(mapping)
    if text[at - 1 : at] == "\n":  # the last value was a block scalar, which owns its line break
        return text[:at] + block + newline + text[at:]
    eol = text.find("\n", at)
    if eol < 0:
        eol = len(text)
    elif text[eol - 1 : eol] == "\r":
        eol -= 1
    return text[:eol] + newline + block + text[eol:]


def _replace_with_block(
    text: str, node: yaml.Node, owner: yaml.Node | None, rest: list[str | int], rendered: str
) -> str:
    """`resources: {}` / `resources:` / `resources: null` becomes a nested block under its key."""
    if owner is None:
        raise ManifestError("cannot insert into an empty list item")
    newline = "\r\n" if "\r\n" in text else "\n"
    start, end = node.start_mark.index, node.end_mark.index
    while start > 0 and text[start - 1] in " \t":
        start -= 1
    block = _block([str(part) for part in rest], rendered, owner.start_mark.column + 2, newline)
    return text[:start] + newline + block + text[end:]


def _block(keys: list[str], rendered: str, indent: int, newline: str) -> str:
    lines = [" " * (indent + 2 * depth) + f"{key}:" for depth, key in enumerate(keys[:-1])]
    lines.append(" " * (indent + 2 * (len(keys) - 1)) + f"{keys[-1]}: {rendered}")
    return newline.join(lines)


def _flow(keys: list[str], rendered: str) -> str:
    return f"{keys[0]}: " + ("{" + _flow(keys[1:], rendered) + "}" if len(keys) > 1 else rendered)


def _last_end(node: yaml.Node) -> int:
    if isinstance(node, yaml.MappingNode) and node.value:
        return _last_end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style:
        return _last_end(node.value[-1])
    return int(node.end_mark.index)


def _dotted(path: list[str | int]) -> str:
    return ".".join(str(p) for p in path)


# --- the provider ---------------------------------------------------------------------------------------


def branch_name(key: str) -> str:
    """The pull request branch for an idempotency key: readable slug plus a digest of the whole key."""
    slug = re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")[:60].strip("-")
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{BRANCH_PREFIX}{slug}-{digest}" if slug else f"{BRANCH_PREFIX}{digest}"


@dataclass(frozen=True)
class _Target:
    owner: str
    repo: str
    path: str
    base: str
    branch: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    @property
    def repo_path(self) -> str:
        return f"/repos/{quote(self.owner, safe='')}/{quote(self.repo, safe='')}"

    def contents(self) -> str:
        return f"{self.repo_path}/contents/{quote(self.path, safe='/')}"


class GitHubActions:
    """`ActionProvider` for suggest_config_fix: a branch, one commit and a pull request per action."""

    slug = "github"
    kinds = frozenset({"suggest_config_fix"})

    def __init__(
        self,
        *,
        api_url: str = "https://api.github.com",
        token: SecretStr | str | None = None,
        repository: str | None = None,
        manifest_path: str = "deploy/{namespace}/{deployment}.yaml",
        base_branch: str = "main",
        timeout_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        secret = token if isinstance(token, SecretStr) or token is None else SecretStr(token)
        self._token = secret.get_secret_value() if secret is not None else ""
        self._api_url = api_url.rstrip("/")
        self._repository = repository
        self._manifest_path = manifest_path
        self._base = base_branch
        self._timeout = timeout_seconds
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> GitHubActions:
        """GitHub at AI_SRE_GITHUB_API_URL with AI_SRE_GITHUB_TOKEN and the AI_SRE_GITHUB_* defaults."""
        return cls(
            api_url=settings.github_api_url,
            token=settings.github_token,
            repository=settings.github_repository,
            manifest_path=settings.github_manifest_path,
            base_branch=settings.github_base_branch,
            **options,
        )

    def __repr__(self) -> str:
        return f"GitHubActions(api_url={self._api_url!r}, repository={self._repository!r})"

    # --- plumbing ---------------------------------------------------------------------------------

    def _target(self, action: CatalogAction, key: str) -> tuple[SuggestConfigFix, _Target]:
        if not isinstance(action, SuggestConfigFix):
            raise ActionError(f"the github provider does not execute {action.action}", retryable=False)
        repository = action.repository or self._repository
        if not repository:
            raise ActionError(
                "no manifests repository: set AI_SRE_GITHUB_REPOSITORY or the action's repository", retryable=False
            )
        owner, _, name = repository.partition("/")
        if not owner or not name or "/" in name:
            raise ActionError(f"repository must be owner/name, not {repository!r}", retryable=False)
        try:
            path = action.path or self._manifest_path.format(namespace=action.namespace, deployment=action.deployment)
        except (KeyError, IndexError, ValueError) as exc:
            raise ActionError(f"AI_SRE_GITHUB_MANIFEST_PATH cannot be formatted: {exc}", retryable=False) from None
        return action, _Target(owner, name, path.lstrip("/"), self._base, branch_name(key))

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        if not self._token:
            raise ActionError("AI_SRE_GITHUB_TOKEN is not set", retryable=False)
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "aisre",
        }
        # One client per operation: no connection pool outlives an event loop.
        async with httpx.AsyncClient(
            base_url=self._api_url, headers=headers, timeout=httpx.Timeout(self._timeout), follow_redirects=False
        ) as client:
            yield client

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    async def _send(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> httpx.Response:
        try:
            return await client.request(method, url, params=params, json=body)
        except httpx.TimeoutException:
            raise ActionError(f"GitHub {what}: no answer within {self._timeout:g} s", retryable=True) from None
        except httpx.HTTPError as exc:
            detail = self._scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            raise ActionError(f"GitHub {what}: cannot reach {self._api_url}: {detail}", retryable=True) from None

    def _failure(self, response: httpx.Response, *, what: str) -> ActionError:
        """An ActionError for an error status: 429, 5xx, 409 and rate-limit 403s are retryable."""
        status = response.status_code
        message = _message(response)
        headers = response.headers
        retry_after = retry_after_seconds(headers.get("retry-after"))
        rate_limited = status == 429 or (
            status == 403 and (headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers)
        )
        if rate_limited and retry_after is None and headers.get("x-ratelimit-reset", "").isdigit():
            retry_after = max(float(headers["x-ratelimit-reset"]) - self._clock(), 0.0) + 1.0
        if rate_limited:
            reason, retryable = "rate limited", True
        elif status == 401:
            reason, retryable = "the token was rejected; check AI_SRE_GITHUB_TOKEN", False
        elif status == 403:
            reason, retryable = "forbidden: the token needs contents and pull-requests write access", False
        elif status == 404:
            reason, retryable = "not found (or not visible to this token)", False
        elif status == 409:
            reason, retryable = "conflict: the branch moved; a retry re-reads it", True
        elif status >= 500:
            reason, retryable = "GitHub server error", True
        else:
            reason, retryable = "rejected", False
        text = f"GitHub {what}: HTTP {status} {reason}: {message}"
        return ActionError(self._scrub(text), retryable=retryable, retry_after=retry_after if retryable else None)

    def _json(self, response: httpx.Response, *, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ActionError(
                f"GitHub {what}: HTTP {response.status_code} with a body that is not JSON", retryable=True
            ) from None

    async def _expect(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        what: str,
        ok: tuple[int, ...] = (200,),
        params: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        response = await self._send(client, method, url, what=what, params=params, body=body)
        if response.status_code not in ok:
            raise self._failure(response, what=what)
        return self._json(response, what=what) if response.content else None

    async def _file(self, client: httpx.AsyncClient, t: _Target, ref: str) -> tuple[str, str]:
        """The manifest's text and blob sha at `ref`."""
        what = f"read {t.full_name}:{t.path}@{ref}"
        body = await self._expect(client, "GET", t.contents(), what=what, params={"ref": ref})
        if not isinstance(body, dict) or body.get("type") != "file":
            raise ActionError(f"GitHub {what}: not a file", retryable=False)
        if body.get("encoding") != "base64":
            raise ActionError(f"GitHub {what}: content not returned inline (a file over 1 MB?)", retryable=False)
        try:
            text = base64.b64decode(str(body.get("content", ""))).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise ActionError(f"GitHub {what}: not UTF-8 text", retryable=False) from None
        return text, str(body.get("sha", ""))

    async def _pull(self, client: httpx.AsyncClient, t: _Target) -> dict[str, Any] | None:
        """The newest pull request from the action's branch, in any state."""
        pulls = await self._expect(
            client,
            "GET",
            f"{t.repo_path}/pulls",
            what=f"list pull requests of {t.full_name}",
            params={"head": f"{t.owner}:{t.branch}", "state": "all", "per_page": "10"},
        )
        if not isinstance(pulls, list):
            raise ActionError(f"GitHub list pull requests of {t.full_name}: unexpected answer", retryable=True)
        candidates = [p for p in pulls if isinstance(p, dict) and (p.get("head") or {}).get("ref") == t.branch]
        return max(candidates, key=lambda p: int(p.get("number", 0)), default=None)

    def _edit(self, action: SuggestConfigFix, t: _Target, text: str, ref: str) -> ManifestEdit:
        try:
            return edit_manifest(
                text,
                deployment=action.deployment,
                namespace=action.namespace,
                container=action.container,
                changes=action.changes,
            )
        except ManifestError as exc:
            raise ActionError(f"{t.full_name}:{t.path}@{ref}: {exc}", retryable=False) from None

    # --- the protocol -----------------------------------------------------------------------------

    async def plan(self, action: CatalogAction, *, key: str) -> ActionPlan:
        """The manifest diff against the base branch; nothing is written."""
        fix, t = self._target(action, key)
        async with self._client() as client:
            text, sha = await self._file(client, t, t.base)
        edit = self._edit(fix, t, text, t.base)
        return ActionPlan(
            summary=_summary(fix, edit, t) if edit.changed else f"{t.full_name}:{t.path} already has {_changes(edit)}",
            diff=edit.diff(t.path),
            target=f"{t.full_name}:{t.path}",
            before={"base_sha": sha, "branch": t.branch, **edit.before},
        )

    async def find(self, action: CatalogAction, *, key: str) -> ActionOutcome | None:
        """A pull request from the action's branch, if one exists (a branch alone means: resume apply)."""
        _, t = self._target(action, key)
        async with self._client() as client:
            pr = await self._pull(client, t)
        if pr is None:
            return None
        return ActionOutcome(
            status="already_applied",
            detail=f"pull request #{pr.get('number')} ({_pr_state(pr)}) from {t.branch}",
            provider_ref=str(pr.get("html_url", "")),
        )

    async def apply(self, action: CatalogAction, *, key: str) -> ActionOutcome:
        """Branch, commit and pull request, each step resuming what an earlier attempt left."""
        fix, t = self._target(action, key)
        async with self._client() as client:
            pr = await self._pull(client, t)
            if pr is not None:
                return ActionOutcome(
                    status="already_applied",
                    detail=f"pull request #{pr.get('number')} ({_pr_state(pr)}) already exists from {t.branch}",
                    provider_ref=str(pr.get("html_url", "")),
                )
            base_text, _ = await self._file(client, t, t.base)
            edit = self._edit(fix, t, base_text, t.base)
            if not edit.changed:
                return ActionOutcome(
                    status="already_applied",
                    detail=f"{t.base} already has {_changes(edit)}; no pull request needed",
                    provider_ref=f"{t.full_name}:{t.path}@{t.base}",
                )
            await self._ensure_branch(client, t)
            branch_text, blob_sha = await self._file(client, t, t.branch)
            branch_edit = self._edit(fix, t, branch_text, t.branch)
            if branch_edit.changed:  # unchanged: an earlier attempt committed and died before the PR
                await self._expect(
                    client,
                    "PUT",
                    t.contents(),
                    what=f"commit {t.path} on {t.branch}",
                    ok=(200, 201),
                    body={
                        "message": f"{_summary(fix, edit, t)}\n\nAI-SRE action {key}",
                        "content": base64.b64encode(branch_edit.text.encode("utf-8")).decode("ascii"),
                        "sha": blob_sha,
                        "branch": t.branch,
                    },
                )
            pr = await self._open_pull(client, t, fix, edit, key)
        return ActionOutcome(
            status="succeeded",
            detail=f"opened pull request #{pr.get('number')} from {t.branch} into {t.base}",
            provider_ref=str(pr.get("html_url", "")),
        )

    async def _ensure_branch(self, client: httpx.AsyncClient, t: _Target) -> None:
        ref = await self._expect(
            client,
            "GET",
            f"{t.repo_path}/git/ref/heads/{quote(t.base, safe='/')}",
            what=f"read branch {t.base} of {t.full_name}",
        )
        sha = str(((ref or {}).get("object") or {}).get("sha", ""))
        what = f"create branch {t.branch} in {t.full_name}"
        response = await self._send(
            client, "POST", f"{t.repo_path}/git/refs", what=what, body={"ref": f"refs/heads/{t.branch}", "sha": sha}
        )
        if response.status_code == 201:
            return
        if response.status_code == 422 and "already exists" in _message(response).lower():
            return  # an earlier attempt created it: resume
        raise self._failure(response, what=what)

    async def _open_pull(
        self, client: httpx.AsyncClient, t: _Target, fix: SuggestConfigFix, edit: ManifestEdit, key: str
    ) -> dict[str, Any]:
        what = f"open a pull request in {t.full_name}"
        response = await self._send(
            client,
            "POST",
            f"{t.repo_path}/pulls",
            what=what,
            body={
                "title": f"AI-SRE: {_summary(fix, edit, t)}",
                "head": t.branch,
                "base": t.base,
                "body": _pr_body(fix, edit, t, key),
                "maintainer_can_modify": True,
            },
        )
        if response.status_code == 201:
            created: dict[str, Any] = self._json(response, what=what)
            return created
        if response.status_code == 422 and "already exists" in _message(response).lower():
            existing = await self._pull(client, t)  # created by an attempt whose answer was lost
            if existing is not None:
                return existing
        raise self._failure(response, what=what)

    async def verify(self, action: CatalogAction, *, key: str) -> Verification:
        """The pull request is open with the change on its branch, or merged (or the base needs no change)."""
        fix, t = self._target(action, key)
        async with self._client() as client:
            pr = await self._pull(client, t)
            if pr is None:
                # `apply` opens no pull request when the base branch already has the values.
                base_text, _ = await self._file(client, t, t.base)
                if not self._edit(fix, t, base_text, t.base).changed:
                    return Verification(ok=True, detail=f"{t.base} already has {_changes_of(fix)}")
                return Verification(ok=False, detail=f"no pull request from {t.branch}")
            number = pr.get("number")
            if pr.get("merged_at"):
                return Verification(ok=True, detail=f"pull request #{number} merged")
            if pr.get("state") != "open":
                return Verification(ok=False, detail=f"pull request #{number} was closed without merging")
            text, _ = await self._file(client, t, t.branch)
        if self._edit(fix, t, text, t.branch).changed:
            return Verification(ok=False, detail=f"pull request #{number} is open but {t.branch} lacks the change")
        return Verification(ok=True, detail=f"pull request #{number} open; {t.branch} has {_changes_of(fix)}")

    async def rollback(self, action: CatalogAction, *, key: str, plan: ActionPlan) -> ActionOutcome:
        """Close the pull request and delete its branch (a merged one must be reverted by a person)."""
        _, t = self._target(action, key)
        async with self._client() as client:
            pr = await self._pull(client, t)
            if pr is not None and pr.get("merged_at"):
                return ActionOutcome(
                    status="failed",
                    detail=f"pull request #{pr.get('number')} is already merged; revert it in GitHub",
                    provider_ref=str(pr.get("html_url", "")),
                )
            done = []
            if pr is not None and pr.get("state") == "open":
                await self._expect(
                    client,
                    "PATCH",
                    f"{t.repo_path}/pulls/{pr.get('number')}",
                    what=f"close pull request #{pr.get('number')}",
                    body={"state": "closed"},
                )
                done.append(f"closed pull request #{pr.get('number')}")
            what = f"delete branch {t.branch}"
            response = await self._send(
                client, "DELETE", f"{t.repo_path}/git/refs/heads/{quote(t.branch, safe='/')}", what=what
            )
            if response.status_code == 204:
                done.append(f"deleted branch {t.branch}")
            elif not (response.status_code == 422 and "does not exist" in _message(response).lower()):
                raise self._failure(response, what=what)
        return ActionOutcome(
            status="succeeded",
            detail="; ".join(done) or "nothing to undo (no open pull request, no branch)",
            provider_ref=str(pr.get("html_url", "")) if pr else "",
        )

    async def health(self) -> None:
        """The default repository is readable and writable with the token (or the token is valid)."""
        async with self._client() as client:
            if not self._repository:
                await self._expect(client, "GET", "/rate_limit", what="check the token")
                return
            owner, _, name = self._repository.partition("/")
            what = f"read repository {self._repository}"
            repo = await self._expect(
                client, "GET", f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}", what=what
            )
        permissions = (repo or {}).get("permissions") or {}
        if permissions and not permissions.get("push"):
            raise ActionError(f"GitHub {what}: the token cannot push to {self._repository}", retryable=False)


def _message(response: httpx.Response) -> str:
    """GitHub's error message with its validation errors, on one line."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:_ERROR_CHARS] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:_ERROR_CHARS]
    parts = [str(body.get("message") or response.reason_phrase)]
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            parts.append(str(error.get("message") or f"{error.get('field')} {error.get('code')}"))
        else:
            parts.append(str(error))
    return " ".join("; ".join(parts).split())[:_ERROR_CHARS]


def _pr_state(pr: Mapping[str, Any]) -> str:
    return "merged" if pr.get("merged_at") else str(pr.get("state", "?"))


def _changes(edit: ManifestEdit) -> str:
    return ", ".join(f"{k}={v}" for k, v in edit.after.items())


def _changes_of(fix: SuggestConfigFix) -> str:
    return ", ".join(f"{k}={v.strip()}" for k, v in sorted(fix.changes.items()))


def _summary(fix: SuggestConfigFix, edit: ManifestEdit, t: _Target) -> str:
    where = f" of container {edit.container}" if edit.container and any(k != "replicas" for k in fix.changes) else ""
    return f"set {_changes(edit)}{where} in deployment {fix.namespace}/{fix.deployment}"


def _pr_body(fix: SuggestConfigFix, edit: ManifestEdit, t: _Target, key: str) -> str:
    rows = "\n".join(f"| `{k}` | {edit.before.get(k) or '(unset)'} | {v} |" for k, v in edit.after.items())
    return (
        f"AI-SRE proposes this change to deployment `{fix.namespace}/{fix.deployment}`"
        + (f" (container `{edit.container}`)" if edit.container else "")
        + f" in `{t.path}`.\n\n"
        "| setting | now | proposed |\n|---|---|---|\n"
        f"{rows}\n\n"
        f"```diff\n{edit.diff(t.path)}\n```\n\n"
        f"Incident action: `{key}`\n\n"
        f"Closing this pull request and deleting `{t.branch}` withdraws the proposal."
    )
