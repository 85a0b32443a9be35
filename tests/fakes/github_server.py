"""A local server that follows GitHub's REST API for the endpoints the config-fix provider uses.

Endpoints (GitHub REST docs, API version 2022-11-28):
- `GET /repos/{owner}/{repo}` (with `permissions` for the token), `GET /rate_limit`;
- `GET /repos/{owner}/{repo}/contents/{path}?ref=` (base64 content, blob `sha`; 404 "Not Found") and
  `PUT` the same path with `message`, `content`, `sha`, `branch` (the blob sha is required to replace a
  file — 422 when missing — and must match the branch's current blob, else 409 "... does not match ...");
- `GET /repos/{owner}/{repo}/git/ref/heads/{branch}`, `POST /repos/{owner}/{repo}/git/refs` (422
  "Reference already exists", 422 "Object does not exist"), `DELETE /repos/{owner}/{repo}/git/refs/heads/{branch}`
  (204; 422 "Reference does not exist");
- `GET /repos/{owner}/{repo}/pulls?state=open|closed|all&head=owner:branch&base=`, `POST` (201; 422
  "Validation Failed" with "A pull request already exists for owner:branch." or "No commits between
  ..."), `GET`/`PATCH /repos/{owner}/{repo}/pulls/{number}`.

Auth: `Authorization: Bearer <token>` (or `token <token>`); an unknown token gets GitHub's 401 body
`{"message": "Bad credentials", ...}`, none gets 401 "Requires authentication"; a repository the token
cannot see answers 404 like GitHub; a read-only token gets 403 on writes. Git objects are modelled as
commits holding whole file trees; blob shas are computed as git computes them.

    with FakeGitHub() as gh:
        gh.add_token("t0k3n")
        gh.seed("acme/deploy", {"deploy/shop/checkout.yaml": "..."})
        ...  # point the provider at gh.url
        assert gh.file("acme/deploy", "deploy/shop/checkout.yaml", ref="aisre/...")
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import unquote

from tests.fakes.http import FakeHTTPServer, RecordedRequest, Reply, _Handler

DOCS = "https://docs.github.com/rest"
SUPPORTED_VERSIONS = {"2022-11-28"}


def blob_sha(content: bytes) -> str:
    """The git blob id of a file's bytes."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


@dataclass
class _Commit:
    sha: str
    tree: dict[str, bytes]
    parent: str | None
    message: str


@dataclass
class _Repo:
    owner: str
    name: str
    default_branch: str
    commits: dict[str, _Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # branch -> commit sha
    pulls: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Token:
    push: bool
    repos: set[str] | None  # None: every repository


class _VerbHandler(_Handler):
    # The shared handler answers GET and POST; the GitHub API also needs PUT, PATCH and DELETE.
    do_PUT = _Handler._serve
    do_PATCH = _Handler._serve
    do_DELETE = _Handler._serve


class FakeGitHub(FakeHTTPServer):
    """The server; see the module docstring."""

    def __init__(self, *, web_url: str = "https://github.com") -> None:
        super().__init__()
        self.web_url = web_url
        self._repos: dict[str, _Repo] = {}
        self._tokens: dict[str, _Token] = {}
        self._counter = 0
        self._replies: deque[tuple[str | None, str | None, Reply]] = deque()

    def start(self) -> Self:
        """Bind a free loopback port and serve (with the PUT/PATCH/DELETE-capable handler)."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_VerbHandler,), {"owner": self}))
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    # --- test API ---------------------------------------------------------------------------------

    def add_token(self, token: str, *, push: bool = True, repos: set[str] | None = None) -> None:
        """Accept `token`; `push=False` makes it read-only, `repos` limits what it can see."""
        with self._lock:
            self._tokens[token] = _Token(push=push, repos=repos)

    def seed(self, full_name: str, files: dict[str, str], *, branch: str = "main") -> str:
        """Create a repository whose `branch` holds `files`; returns the commit sha."""
        owner, _, name = full_name.partition("/")
        with self._lock:
            repo = _Repo(owner=owner, name=name, default_branch=branch)
            self._repos[full_name] = repo
            commit = self._commit(repo, {p: t.encode() for p, t in files.items()}, None, "initial commit")
            repo.refs[branch] = commit.sha
            return commit.sha

    def push(self, full_name: str, branch: str, files: dict[str, str], message: str = "push") -> str:
        """A commit on `branch` changing `files` (someone else pushing)."""
        with self._lock:
            repo = self._repos[full_name]
            head = repo.commits[repo.refs[branch]]
            tree = dict(head.tree) | {p: t.encode() for p, t in files.items()}
            commit = self._commit(repo, tree, head.sha, message)
            repo.refs[branch] = commit.sha
            return commit.sha

    def file(self, full_name: str, path: str, *, ref: str = "main") -> str | None:
        """The file's text at a branch or commit, None when absent."""
        with self._lock:
            repo = self._repos[full_name]
            commit = repo.commits.get(repo.refs.get(ref, ref))
            content = commit.tree.get(path) if commit else None
            return content.decode() if content is not None else None

    def branches(self, full_name: str) -> dict[str, str]:
        with self._lock:
            return dict(self._repos[full_name].refs)

    def commits_on(self, full_name: str, branch: str) -> list[str]:
        """Commit messages from the branch head back to the root."""
        with self._lock:
            repo = self._repos[full_name]
            out, sha = [], repo.refs.get(branch)
            while sha:
                commit = repo.commits[sha]
                out.append(commit.message)
                sha = commit.parent
            return out

    def pulls(self, full_name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(p) for p in self._repos[full_name].pulls]

    def merge(self, full_name: str, number: int) -> None:
        """Mark a pull request merged (its branch's tree becomes the base branch's)."""
        with self._lock:
            repo = self._repos[full_name]
            pr = next(p for p in repo.pulls if p["number"] == number)
            head = repo.commits[repo.refs[pr["head"]["ref"]]]
            merged = self._commit(repo, dict(head.tree), repo.refs[pr["base"]["ref"]], f"Merge #{number}")
            repo.refs[pr["base"]["ref"]] = merged.sha
            pr.update(state="closed", merged_at="2030-01-01T00:00:00Z", merged=True, merge_commit_sha=merged.sha)

    def fail_next(self, reply: Reply, *, method: str | None = None, path: str | None = None) -> None:
        """Answer the next request matching method and path (a regex on the path) with `reply`."""
        with self._lock:
            self._replies.append((method, path, reply))

    def calls(self, method: str, path_pattern: str) -> list[RecordedRequest]:
        """Recorded requests with this method whose path matches the regex (answered ones included)."""
        with self._lock:
            return [r for r in self.requests if r.method == method and re.fullmatch(path_pattern, r.path)]

    # --- request handling -------------------------------------------------------------------------

    def _commit(self, repo: _Repo, tree: dict[str, bytes], parent: str | None, message: str) -> _Commit:
        self._counter += 1
        sha = hashlib.sha1(f"{self._counter}:{parent}:{message}".encode(), usedforsecurity=False).hexdigest()
        commit = _Commit(sha=sha, tree=tree, parent=parent, message=message)
        repo.commits[sha] = commit
        return commit

    def _take_reply(self, request: RecordedRequest) -> Reply | None:
        with self._lock:
            for entry in self._replies:
                method, path, reply = entry
                if (method is None or method == request.method) and (path is None or re.fullmatch(path, request.path)):
                    self._replies.remove(entry)
                    return reply
        return None

    def handle(self, request: RecordedRequest) -> Reply:
        injected = self._take_reply(request)
        if injected is not None:
            return injected
        version = request.headers.get("x-github-api-version")
        if version is not None and version not in SUPPORTED_VERSIONS:
            return _error(400, f"The '{version}' API version is not supported.")
        token, error = self._auth(request)
        if error is not None:
            return error
        assert token is not None
        if request.method == "GET" and request.path == "/rate_limit":
            core = {"limit": 5000, "remaining": 4999, "reset": 1_900_000_000, "used": 1, "resource": "core"}
            return _json(200, {"resources": {"core": core}, "rate": core})
        match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", request.path)
        if not match:
            return _error(404, "Not Found")
        full_name = f"{unquote(match.group(1))}/{unquote(match.group(2))}"
        rest = match.group(3) or ""
        with self._lock:
            repo = self._repos.get(full_name)
            if repo is None or (token.repos is not None and full_name not in token.repos):
                return _error(404, "Not Found")
            if request.method not in {"GET", "HEAD"} and not token.push:
                return _error(403, "Resource not accessible by personal access token")
            return self._route(repo, token, request, rest)

    def _auth(self, request: RecordedRequest) -> tuple[_Token | None, Reply | None]:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if not header:
            return None, _error(401, "Requires authentication")
        if scheme.lower() not in {"bearer", "token"} or value.strip() not in self._tokens:
            return None, _error(401, "Bad credentials")
        return self._tokens[value.strip()], None

    def _route(self, repo: _Repo, token: _Token, request: RecordedRequest, rest: str) -> Reply:
        method = request.method
        if rest == "" and method == "GET":
            return _json(200, self._repo_json(repo, token))
        if rest.startswith("/contents/"):
            path = unquote(rest[len("/contents/") :])
            if method == "GET":
                return self._get_contents(repo, path, request.param("ref") or repo.default_branch)
            if method == "PUT":
                return self._put_contents(repo, path, request)
        if rest.startswith("/git/ref/heads/") and method == "GET":
            return self._get_ref(repo, unquote(rest[len("/git/ref/heads/") :]))
        if rest == "/git/refs" and method == "POST":
            return self._create_ref(repo, request)
        if rest.startswith("/git/refs/heads/") and method == "DELETE":
            branch = unquote(rest[len("/git/refs/heads/") :])
            if repo.refs.pop(branch, None) is None:
                return _error(422, "Reference does not exist")
            return Reply(204, b"")
        if rest == "/pulls":
            if method == "GET":
                return self._list_pulls(repo, request)
            if method == "POST":
                return self._create_pull(repo, request)
        number = re.fullmatch(r"/pulls/(\d+)", rest)
        if number:
            pr = next((p for p in repo.pulls if p["number"] == int(number.group(1))), None)
            if pr is None:
                return _error(404, "Not Found")
            if method == "GET":
                return _json(200, pr)
            if method == "PATCH":
                return self._update_pull(repo, pr, request)
        return _error(404, "Not Found")

    def _repo_json(self, repo: _Repo, token: _Token) -> dict[str, Any]:
        return {
            "id": abs(hash(repo.name)) % 10**8,
            "name": repo.name,
            "full_name": f"{repo.owner}/{repo.name}",
            "owner": {"login": repo.owner},
            "private": True,
            "default_branch": repo.default_branch,
            "html_url": f"{self.web_url}/{repo.owner}/{repo.name}",
            "permissions": {"admin": False, "maintain": False, "push": token.push, "triage": True, "pull": True},
        }

    def _resolve(self, repo: _Repo, ref: str) -> _Commit | None:
        ref = ref.removeprefix("refs/heads/")
        return repo.commits.get(repo.refs.get(ref, ref))

    def _get_contents(self, repo: _Repo, path: str, ref: str) -> Reply:
        commit = self._resolve(repo, ref)
        if commit is None:
            return _error(404, f"No commit found for the ref {ref}")
        content = commit.tree.get(path)
        if content is None:
            return _error(404, "Not Found")
        encoded = base64.b64encode(content).decode()
        # GitHub wraps the base64 at 60 characters with newlines.
        wrapped = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n"
        return _json(
            200,
            {
                "type": "file",
                "encoding": "base64",
                "size": len(content),
                "name": path.rsplit("/", 1)[-1],
                "path": path,
                "content": wrapped,
                "sha": blob_sha(content),
                "html_url": f"{self.web_url}/{repo.owner}/{repo.name}/blob/{ref}/{path}",
            },
        )

    def _put_contents(self, repo: _Repo, path: str, request: RecordedRequest) -> Reply:
        try:
            body = request.json()
        except ValueError:
            return _error(400, "Problems parsing JSON")
        for required in ("message", "content"):
            if not isinstance(body.get(required), str):
                return _error(422, f'Invalid request.\n\n"{required}" wasn\'t supplied.')
        branch = body.get("branch") or repo.default_branch
        if branch not in repo.refs:
            return _error(404, f"Branch {branch} not found")
        head = repo.commits[repo.refs[branch]]
        existing = head.tree.get(path)
        if existing is not None:
            if not body.get("sha"):
                return _error(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
            if body["sha"] != blob_sha(existing):
                return _error(409, f"{path} does not match {body['sha']}")
        try:
            content = base64.b64decode(body["content"], validate=True)
        except ValueError:
            return _error(422, "content is not valid Base64")
        commit = self._commit(repo, dict(head.tree) | {path: content}, head.sha, body["message"])
        repo.refs[branch] = commit.sha
        return _json(
            200 if existing is not None else 201,
            {
                "content": {"name": path.rsplit("/", 1)[-1], "path": path, "sha": blob_sha(content)},
                "commit": {"sha": commit.sha, "message": commit.message, "parents": [{"sha": head.sha}]},
            },
        )

    def _ref_json(self, repo: _Repo, branch: str) -> dict[str, Any]:
        return {
            "ref": f"refs/heads/{branch}",
            "node_id": "REF_" + branch,
            "url": f"{self.url}/repos/{repo.owner}/{repo.name}/git/refs/heads/{branch}",
            "object": {"sha": repo.refs[branch], "type": "commit"},
        }

    def _get_ref(self, repo: _Repo, branch: str) -> Reply:
        if branch not in repo.refs:
            return _error(404, "Not Found")
        return _json(200, self._ref_json(repo, branch))

    def _create_ref(self, repo: _Repo, request: RecordedRequest) -> Reply:
        body = request.json()
        ref, sha = body.get("ref"), body.get("sha")
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
            return _error(422, "Reference name is not valid: ref must start with refs/ and have at least two slashes")
        if not isinstance(sha, str) or sha not in repo.commits:
            return _error(422, "Object does not exist")
        branch = ref.removeprefix("refs/heads/")
        if branch in repo.refs:
            return _error(422, "Reference already exists")
        repo.refs[branch] = sha
        return _json(201, self._ref_json(repo, branch))

    def _list_pulls(self, repo: _Repo, request: RecordedRequest) -> Reply:
        state = request.param("state") or "open"
        if state not in {"open", "closed", "all"}:
            return _validation("state", "invalid")
        head = request.param("head")
        base = request.param("base")
        out = []
        for pr in repo.pulls:
            if state != "all" and pr["state"] != state:
                continue
            if head is not None and pr["head"]["label"] != head:
                continue
            if base is not None and pr["base"]["ref"] != base:
                continue
            out.append(pr)
        per_page = int(request.param("per_page") or 30)
        page = int(request.param("page") or 1)
        newest_first = sorted(out, key=lambda p: -p["number"])
        return _json(200, newest_first[(page - 1) * per_page : page * per_page])

    def _create_pull(self, repo: _Repo, request: RecordedRequest) -> Reply:
        body = request.json()
        head, base, title = body.get("head"), body.get("base"), body.get("title")
        if not isinstance(title, str) or not title:
            return _validation("title", "missing_field")
        if not isinstance(head, str) or not isinstance(base, str):
            return _validation("head" if not isinstance(head, str) else "base", "missing_field")
        head_ref = head.split(":", 1)[1] if ":" in head else head
        if head_ref not in repo.refs:
            return _validation("head", "invalid")
        if base not in repo.refs:
            return _validation("base", "invalid")
        label = f"{repo.owner}:{head_ref}"
        if any(p["state"] == "open" and p["head"]["label"] == label and p["base"]["ref"] == base for p in repo.pulls):
            return _error(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {label}.",
                    }
                ],
            )
        if repo.commits[repo.refs[head_ref]].tree == repo.commits[repo.refs[base]].tree:
            return _error(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"No commits between {base} and {head_ref}",
                    }
                ],
            )
        number = max((p["number"] for p in repo.pulls), default=0) + 1
        pr = {
            "id": 1000 + number,
            "number": number,
            "state": "open",
            "title": title,
            "body": body.get("body"),
            "html_url": f"{self.web_url}/{repo.owner}/{repo.name}/pull/{number}",
            "url": f"{self.url}/repos/{repo.owner}/{repo.name}/pulls/{number}",
            "head": {"label": label, "ref": head_ref, "sha": repo.refs[head_ref]},
            "base": {"label": f"{repo.owner}:{base}", "ref": base, "sha": repo.refs[base]},
            "merged_at": None,
            "merged": False,
            "draft": bool(body.get("draft", False)),
            "maintainer_can_modify": bool(body.get("maintainer_can_modify", False)),
        }
        repo.pulls.append(pr)
        return _json(201, pr)

    def _update_pull(self, repo: _Repo, pr: dict[str, Any], request: RecordedRequest) -> Reply:
        body = request.json()
        state = body.get("state")
        if state is not None:
            if state not in {"open", "closed"}:
                return _validation("state", "invalid")
            if pr.get("merged_at"):
                return _error(
                    422, "Validation Failed", errors=[{"message": "Cannot change the state of a merged pull request"}]
                )
            pr["state"] = state
        for name in ("title", "body"):
            if isinstance(body.get(name), str):
                pr[name] = body[name]
        return _json(200, pr)


def _json(status: int, body: Any) -> Reply:
    return Reply(status, json.dumps(body), content_type="application/json; charset=utf-8")


def _error(status: int, message: str, *, errors: list[dict[str, Any]] | None = None) -> Reply:
    body: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": str(status)}
    if errors is not None:
        body["errors"] = errors
    return _json(status, body)


def _validation(fieldname: str, code: str) -> Reply:
    return _error(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": fieldname, "code": code}])
