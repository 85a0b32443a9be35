"""The GitHub config-fix provider against a local server that follows GitHub's REST API."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from adapters.actions.base import ActionError, ActionProvider
from adapters.actions.github import GitHubActions, ManifestError, branch_name, edit_manifest
from domain.actions import ActionPlan, RestartPod, SuggestConfigFix
from domain.settings import Settings
from tests.fakes.github_server import FakeGitHub, blob_sha
from tests.fakes.http import Reply

TOKEN = "ghp_s3cr3tT0kenValue0123456789abcdef"
REPO = "acme/deploy"
PATH = "deploy/shop/checkout.yaml"
KEY = "incident-default-abc123:act-1"
PULLS = r"/repos/acme/deploy/pulls"

MANIFEST = """\
# Managed by the platform team. Keep the Service first.
apiVersion: v1
kind: Service
metadata:
  name: checkout
  namespace: shop
spec:
  ports:
    - port: 80  # http
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  namespace: shop
  labels: {app: checkout}
spec:
  replicas: 2  # raised during the 2024 sale
  selector:
    matchLabels: {app: checkout}
  template:
    metadata:
      labels: {app: checkout}
    spec:
      containers:
        - name: app
          image: "ghcr.io/acme/checkout:1.4.2"
          resources:
            limits:
              memory: "512Mi"   # OOMKilled above 480Mi
              cpu: 500m
            requests:
              memory: 256Mi
        - name: envoy
          image: envoyproxy/envoy:v1.30
          resources: {}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: checkout-config
data:
  replicas: "2"
"""


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_token(TOKEN)
        fake.seed(REPO, {PATH: MANIFEST, "README.md": "deploy repo\n"})
        yield fake


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(1_900_000_000.0)


@pytest.fixture
def provider(gh: FakeGitHub, clock: Clock) -> GitHubActions:
    return GitHubActions(api_url=gh.url, token=TOKEN, repository=REPO, base_branch="main", clock=clock)


def fix(**changes: str) -> SuggestConfigFix:
    return SuggestConfigFix(namespace="shop", deployment="checkout", changes=dict(changes))


MEMORY = {"resources.limits.memory": "1Gi"}


def changed_lines(diff: str) -> list[str]:
    return [line for line in diff.splitlines() if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))]


# --- construction and the manifest edit -----------------------------------------------------------


def test_is_an_action_provider_built_from_settings(gh: FakeGitHub) -> None:
    settings = Settings(
        github_api_url=gh.url, github_token=TOKEN, github_repository=REPO, github_manifest_path="k8s/{deployment}.yaml"
    )
    built = GitHubActions.from_settings(settings)
    assert isinstance(built, ActionProvider)
    assert built.slug == "github"
    assert built.kinds == {"suggest_config_fix"}
    assert TOKEN not in repr(built)


def test_branch_names_carry_the_key_and_are_valid_git_refs() -> None:
    name = branch_name(KEY)
    assert name.startswith("aisre/incident-default-abc123-act-1-")
    assert branch_name(KEY) == name
    assert branch_name(KEY + "x") != name
    odd = branch_name("incident-Default-..a b~c^d:e?f*g[h\\i@{j}.lock:" + "z" * 200)
    assert len(odd) <= 80
    for bad in ("..", " ", "~", "^", ":", "?", "*", "[", "\\", "@{", "//"):
        assert bad not in odd
    assert not odd.endswith((".", "/", ".lock"))


def test_edit_changes_only_the_value_and_keeps_comments_and_other_documents() -> None:
    edit = edit_manifest(MANIFEST, deployment="checkout", namespace="shop", changes={"replicas": "4"})
    expected = MANIFEST.replace("replicas: 2  # raised", "replicas: 4  # raised")
    assert edit.text == expected
    assert edit.before == {"replicas": "2"}
    assert 'replicas: "2"' in edit.text  # the ConfigMap's own `replicas` key is not the Deployment's


def test_edit_memory_limit_keeps_the_quoting_and_the_comment() -> None:
    edit = edit_manifest(MANIFEST, deployment="checkout", changes=MEMORY)
    assert edit.text == MANIFEST.replace('memory: "512Mi"   # OOMKilled', 'memory: "1Gi"   # OOMKilled')
    assert edit.before == {"resources.limits.memory": "512Mi"}
    assert edit.container == "app"


def test_edit_inserts_missing_keys_under_an_empty_mapping_of_the_named_container() -> None:
    edit = edit_manifest(
        MANIFEST,
        deployment="checkout",
        container="envoy",
        changes={"resources.limits.memory": "128Mi", "resources.requests.cpu": "100m"},
    )
    assert changed_lines(edit.diff(PATH)) == [
        "-          resources: {}",
        "+          resources:",
        "+            limits:",
        "+              memory: 128Mi",
        "+            requests:",
        "+              cpu: 100m",
    ]
    assert edit.before == {"resources.limits.memory": "", "resources.requests.cpu": ""}


def test_edit_inserts_a_missing_key_next_to_its_siblings() -> None:
    edit = edit_manifest(MANIFEST, deployment="checkout", changes={"resources.requests.cpu": "250m"})
    assert changed_lines(edit.diff(PATH)) == ["+              cpu: 250m"]
    lines = edit.text.splitlines()
    assert lines[lines.index("              memory: 256Mi") + 1] == "              cpu: 250m"


def test_edit_is_a_no_op_when_the_value_is_already_there() -> None:
    edit = edit_manifest(MANIFEST, deployment="checkout", changes={"replicas": "2", "resources.limits.cpu": "500m"})
    assert not edit.changed
    assert edit.text == MANIFEST


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"deployment": "cart", "changes": {"replicas": "3"}}, "no Deployment named 'cart'"),
        ({"deployment": "checkout", "changes": {"replicas": "three"}}, "whole number"),
        ({"deployment": "checkout", "changes": {"resources.limits.memory": "1 GB"}}, "quantity"),
        ({"deployment": "checkout", "changes": {"image": "x"}}, "unsupported change"),
        ({"deployment": "checkout", "container": "db", "changes": MEMORY}, "no container 'db'"),
        ({"deployment": "checkout", "namespace": "other", "changes": MEMORY}, "no Deployment"),
    ],
)
def test_edit_refuses_what_it_cannot_do(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        edit_manifest(MANIFEST, **kwargs)  # type: ignore[arg-type]


ALIASED = (
    "kind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers:\n"
    "      - name: one\n        resources: &r {}\n      - name: two\n        resources: *r\n"
)
DUPLICATE_KEY = "kind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: 1\n  replicas: 1\n"


@pytest.mark.parametrize(
    ("text", "container", "changes"),
    [
        # An alias: the node's position is the anchor's, elsewhere in the file.
        (ALIASED, "two", MEMORY),
        # A duplicate key: PyYAML keeps the last one, the text edit would hit the first.
        (DUPLICATE_KEY, None, {"replicas": "3"}),
    ],
)
def test_edit_refuses_rather_than_guesses_when_the_result_would_differ(
    text: str, container: str | None, changes: dict[str, str]
) -> None:
    with pytest.raises(ManifestError, match="refusing to guess"):
        edit_manifest(text, deployment="a", container=container, changes=changes)


def test_edit_handles_flow_mappings_and_crlf() -> None:
    text = "kind: Deployment\r\nmetadata: {name: a}\r\nspec:\r\n  template:\r\n    spec:\r\n      containers:\r\n"
    text += "      - {name: c, resources: {limits: {cpu: 1}}}\r\n"
    edit = edit_manifest(text, deployment="a", changes={"resources.limits.memory": "1Gi", "replicas": "3"})
    assert "      - {name: c, resources: {limits: {cpu: 1, memory: 1Gi}}}\r\n" in edit.text
    assert "  replicas: 3\r\n" in edit.text
    assert "\n" not in edit.text.replace("\r\n", "")


# --- plan -------------------------------------------------------------------------------------------


async def test_plan_replicas_is_a_diff_and_writes_nothing(provider: GitHubActions, gh: FakeGitHub) -> None:
    plan = await provider.plan(fix(replicas="4"), key=KEY)
    assert plan.target == f"{REPO}:{PATH}"
    assert changed_lines(plan.diff) == [
        "-  replicas: 2  # raised during the 2024 sale",
        "+  replicas: 4  # raised during the 2024 sale",
    ]
    assert plan.diff.startswith(f"--- a/{PATH}\n+++ b/{PATH}\n")
    assert plan.before["replicas"] == "2"
    assert plan.before["base_sha"] == blob_sha(MANIFEST.encode())
    assert plan.before["branch"] == branch_name(KEY)
    assert "replicas=4" in plan.summary
    assert {r.method for r in gh.requests} == {"GET"}
    assert gh.branches(REPO) == {"main": gh.branches(REPO)["main"]}


async def test_plan_memory_limit_in_a_multi_document_file(provider: GitHubActions) -> None:
    plan = await provider.plan(fix(**MEMORY), key=KEY)
    assert changed_lines(plan.diff) == [
        '-              memory: "512Mi"   # OOMKilled above 480Mi',
        '+              memory: "1Gi"   # OOMKilled above 480Mi',
    ]
    assert plan.before["resources.limits.memory"] == "512Mi"


async def test_plan_uses_the_configured_path_template_and_action_overrides(gh: FakeGitHub) -> None:
    gh.seed("acme/other", {"k8s/checkout.yml": MANIFEST})
    provider = GitHubActions(api_url=gh.url, token=TOKEN, repository=REPO, manifest_path="nowhere/{deployment}")
    action = SuggestConfigFix(
        namespace="shop",
        deployment="checkout",
        changes={"replicas": "3"},
        repository="acme/other",
        path="k8s/checkout.yml",
    )
    plan = await provider.plan(action, key=KEY)
    assert plan.target == "acme/other:k8s/checkout.yml"
    templated = GitHubActions(
        api_url=gh.url, token=TOKEN, repository=REPO, manifest_path="deploy/{namespace}/{deployment}.yaml"
    )
    assert (await templated.plan(fix(replicas="3"), key=KEY)).target == f"{REPO}:{PATH}"


# --- apply, find, resume -----------------------------------------------------------------------------


async def test_apply_creates_branch_commit_and_pull_request(provider: GitHubActions, gh: FakeGitHub) -> None:
    main_before = gh.branches(REPO)["main"]
    outcome = await provider.apply(fix(**MEMORY), key=KEY)

    branch = branch_name(KEY)
    assert outcome.status == "succeeded"
    assert outcome.provider_ref == "https://github.com/acme/deploy/pull/1"
    assert gh.branches(REPO)["main"] == main_before
    assert gh.file(REPO, PATH, ref="main") == MANIFEST
    assert gh.file(REPO, PATH, ref=branch) == MANIFEST.replace('"512Mi"', '"1Gi"')
    assert gh.file(REPO, "README.md", ref=branch) == "deploy repo\n"
    messages = gh.commits_on(REPO, branch)
    assert len(messages) == 2
    assert KEY in messages[0]

    (ref_call,) = gh.calls("POST", r"/repos/acme/deploy/git/refs")
    assert ref_call.json() == {"ref": f"refs/heads/{branch}", "sha": main_before}
    (put,) = gh.calls("PUT", rf"/repos/acme/deploy/contents/{PATH}")
    body = put.json()
    assert body["branch"] == branch
    assert body["sha"] == blob_sha(MANIFEST.encode())
    assert base64.b64decode(body["content"]).decode() == MANIFEST.replace('"512Mi"', '"1Gi"')
    (pull,) = gh.pulls(REPO)
    assert pull["head"]["ref"] == branch
    assert pull["base"]["ref"] == "main"
    assert "resources.limits.memory=1Gi" in pull["title"]
    assert KEY in pull["body"]
    assert '+              memory: "1Gi"   # OOMKilled above 480Mi' in pull["body"]
    assert "| `resources.limits.memory` | 512Mi | 1Gi |" in pull["body"]
    for request in gh.requests:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"


async def test_find_and_a_second_apply_after_completion_do_nothing(provider: GitHubActions, gh: FakeGitHub) -> None:
    assert await provider.find(fix(**MEMORY), key=KEY) is None
    first = await provider.apply(fix(**MEMORY), key=KEY)

    found = await provider.find(fix(**MEMORY), key=KEY)
    assert found is not None
    assert found.status == "already_applied"
    assert found.provider_ref == first.provider_ref
    again = await provider.apply(fix(**MEMORY), key=KEY)
    assert again.status == "already_applied"
    assert again.provider_ref == first.provider_ref
    assert len(gh.calls("PUT", r".*/contents/.*")) == 1
    assert len(gh.calls("POST", PULLS)) == 1
    assert len(gh.pulls(REPO)) == 1
    # A different action gets its own branch and pull request.
    other = await provider.apply(fix(replicas="4"), key=KEY + "-2")
    assert other.provider_ref.endswith("/pull/2")


async def test_resume_after_a_crash_between_commit_and_pull_request(provider: GitHubActions, gh: FakeGitHub) -> None:
    gh.fail_next(Reply(502, json.dumps({"message": "Server Error"})), method="POST", path=PULLS)
    with pytest.raises(ActionError) as info:
        await provider.apply(fix(**MEMORY), key=KEY)
    assert info.value.retryable
    assert branch_name(KEY) in gh.branches(REPO)
    assert gh.pulls(REPO) == []
    # Branch and commit exist, no pull request: find says "not applied" so the retry resumes.
    assert await provider.find(fix(**MEMORY), key=KEY) is None

    outcome = await provider.apply(fix(**MEMORY), key=KEY)

    assert outcome.status == "succeeded"
    assert len(gh.calls("PUT", r".*/contents/.*")) == 1  # no second commit
    assert len(gh.commits_on(REPO, branch_name(KEY))) == 2
    refs = gh.calls("POST", r"/repos/acme/deploy/git/refs")
    assert [r.status for r in refs] == [201, 422]  # "Reference already exists" = resume
    assert len(gh.pulls(REPO)) == 1


async def test_resume_after_a_crash_between_branch_and_commit(provider: GitHubActions, gh: FakeGitHub) -> None:
    gh.fail_next(Reply(500, json.dumps({"message": "Server Error"})), method="PUT")
    with pytest.raises(ActionError):
        await provider.apply(fix(**MEMORY), key=KEY)
    assert gh.file(REPO, PATH, ref=branch_name(KEY)) == MANIFEST
    outcome = await provider.apply(fix(**MEMORY), key=KEY)
    assert outcome.status == "succeeded"
    assert gh.file(REPO, PATH, ref=branch_name(KEY)) == MANIFEST.replace('"512Mi"', '"1Gi"')
    assert len(gh.commits_on(REPO, branch_name(KEY))) == 2


async def test_a_pull_request_created_by_a_lost_attempt_is_found_not_duplicated(
    provider: GitHubActions, gh: FakeGitHub
) -> None:
    await provider.apply(fix(**MEMORY), key=KEY)
    # The next attempt's lookup misses the pull request (a lost answer, a lagging replica): creating it
    # again gets GitHub's 422 "A pull request already exists", which resolves to the existing one.
    gh.fail_next(Reply(200, "[]"), method="GET", path=PULLS)
    outcome = await provider.apply(fix(**MEMORY), key=KEY)
    assert outcome.status == "succeeded"
    assert outcome.provider_ref.endswith("/pull/1")
    assert [r.status for r in gh.calls("POST", PULLS)] == [201, 422]
    assert len(gh.pulls(REPO)) == 1
    assert len(gh.calls("PUT", r".*/contents/.*")) == 1


async def test_nothing_to_propose_when_the_base_already_has_the_values(provider: GitHubActions, gh: FakeGitHub) -> None:
    outcome = await provider.apply(fix(replicas="2"), key=KEY)
    assert outcome.status == "already_applied"
    assert "no pull request needed" in outcome.detail
    assert list(gh.branches(REPO)) == ["main"]
    # The execute activity verifies what apply returned: nothing to open is a verified success.
    check = await provider.verify(fix(replicas="2"), key=KEY)
    assert check.ok
    assert "main already has replicas=2" in check.detail


# --- verify and rollback -----------------------------------------------------------------------------


async def test_verify_open_merged_closed_and_tampered(provider: GitHubActions, gh: FakeGitHub) -> None:
    action = fix(**MEMORY)
    assert not (await provider.verify(action, key=KEY)).ok
    await provider.apply(action, key=KEY)
    check = await provider.verify(action, key=KEY)
    assert check.ok, check.detail
    assert "#1 open" in check.detail

    gh.push(REPO, branch_name(KEY), {PATH: MANIFEST})  # someone reverted the change on the branch
    tampered = await provider.verify(action, key=KEY)
    assert not tampered.ok
    assert "lacks the change" in tampered.detail

    gh.push(REPO, branch_name(KEY), {PATH: MANIFEST.replace('"512Mi"', '"1Gi"')})
    gh.merge(REPO, 1)
    merged = await provider.verify(action, key=KEY)
    assert merged.ok
    assert "merged" in merged.detail


async def test_rollback_closes_the_pull_request_and_deletes_the_branch(provider: GitHubActions, gh: FakeGitHub) -> None:
    action = fix(**MEMORY)
    plan = await provider.plan(action, key=KEY)
    await provider.apply(action, key=KEY)

    undone = await provider.rollback(action, key=KEY, plan=plan)

    assert undone.status == "succeeded"
    assert "closed pull request #1" in undone.detail
    assert "deleted branch" in undone.detail
    assert gh.pulls(REPO)[0]["state"] == "closed"
    assert branch_name(KEY) not in gh.branches(REPO)
    (patch,) = gh.calls("PATCH", r"/repos/acme/deploy/pulls/1")
    assert patch.json() == {"state": "closed"}
    verdict = await provider.verify(action, key=KEY)
    assert not verdict.ok
    assert "closed without merging" in verdict.detail
    # Rolling back again finds nothing left to undo.
    again = await provider.rollback(action, key=KEY, plan=plan)
    assert again.status == "succeeded"
    assert len(gh.calls("PATCH", r".*")) == 1


async def test_rollback_of_a_merged_pull_request_fails_without_touching_it(
    provider: GitHubActions, gh: FakeGitHub
) -> None:
    action = fix(**MEMORY)
    await provider.apply(action, key=KEY)
    gh.merge(REPO, 1)
    undone = await provider.rollback(action, key=KEY, plan=ActionPlan(summary="", diff="", target=""))
    assert undone.status == "failed"
    assert "revert" in undone.detail
    assert gh.calls("PATCH", r".*") == []
    assert gh.calls("DELETE", r".*") == []


# --- auth, health and errors ---------------------------------------------------------------------------


async def test_health(provider: GitHubActions, gh: FakeGitHub) -> None:
    await provider.health()
    assert gh.requests[-1].path == "/repos/acme/deploy"
    await GitHubActions(api_url=gh.url, token=TOKEN).health()  # no default repository: the token is checked
    assert gh.requests[-1].path == "/rate_limit"


@pytest.mark.parametrize(
    ("token_setup", "message"),
    [
        ("bad", "401 the token was rejected"),
        ("read-only", "cannot push"),
        ("other-repo", "404 not found"),
        ("none", "AI_SRE_GITHUB_TOKEN is not set"),
    ],
)
async def test_health_explains_unusable_credentials(gh: FakeGitHub, token_setup: str, message: str) -> None:
    other = "ghp_someone_elses_token_value"
    if token_setup == "read-only":
        gh.add_token(other, push=False)
    elif token_setup == "other-repo":
        gh.add_token(other, repos={"acme/else"})
    token = None if token_setup == "none" else other
    provider = GitHubActions(api_url=gh.url, token=token, repository=REPO)
    with pytest.raises(ActionError, match=message) as info:
        await provider.health()
    assert not info.value.retryable
    assert token is None or token not in str(info.value)


async def test_bad_credentials_are_not_retryable_and_never_echo_the_token(gh: FakeGitHub) -> None:
    provider = GitHubActions(api_url=gh.url, token="ghp_wrong_token_value_xyz", repository=REPO)
    with pytest.raises(ActionError, match="Bad credentials") as info:
        await provider.apply(fix(**MEMORY), key=KEY)
    assert not info.value.retryable
    assert "ghp_wrong_token_value_xyz" not in str(info.value)
    assert gh.requests[-1].status == 401


async def test_a_read_only_token_is_refused_on_the_first_write(gh: FakeGitHub) -> None:
    gh.add_token("ghp_read_only_token", push=False)
    provider = GitHubActions(api_url=gh.url, token="ghp_read_only_token", repository=REPO)
    with pytest.raises(ActionError, match="403 forbidden") as info:
        await provider.apply(fix(**MEMORY), key=KEY)
    assert not info.value.retryable
    assert list(gh.branches(REPO)) == ["main"]


async def test_missing_file_and_missing_deployment_are_not_retryable(provider: GitHubActions, gh: FakeGitHub) -> None:
    action = SuggestConfigFix(namespace="shop", deployment="cart", changes={"replicas": "3"})
    with pytest.raises(ActionError, match="404 not found") as info:
        await provider.plan(action, key=KEY)  # deploy/shop/cart.yaml does not exist
    assert not info.value.retryable
    elsewhere = action.model_copy(update={"path": PATH})
    with pytest.raises(ActionError, match="no Deployment named 'cart'") as info:
        await provider.apply(elsewhere, key=KEY)
    assert not info.value.retryable
    assert list(gh.branches(REPO)) == ["main"]


async def test_no_repository_and_other_kinds_are_refused(gh: FakeGitHub) -> None:
    provider = GitHubActions(api_url=gh.url, token=TOKEN)
    with pytest.raises(ActionError, match="AI_SRE_GITHUB_REPOSITORY") as info:
        await provider.plan(fix(replicas="3"), key=KEY)
    assert not info.value.retryable
    with pytest.raises(ActionError, match="does not execute restart_pod"):
        await provider.plan(RestartPod(namespace="shop", pod="p"), key=KEY)


async def test_rate_limits_are_retryable_with_the_vendors_delay(
    provider: GitHubActions, gh: FakeGitHub, clock: Clock
) -> None:
    gh.fail_next(Reply(429, json.dumps({"message": "slow down"}), headers={"Retry-After": "7"}))
    with pytest.raises(ActionError, match="429 rate limited") as info:
        await provider.plan(fix(replicas="3"), key=KEY)
    assert info.value.retryable
    assert info.value.retry_after == 7

    # The primary rate limit: 403 with x-ratelimit-remaining 0 and the reset time as epoch seconds.
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(clock.now) + 30)}
    gh.fail_next(Reply(403, json.dumps({"message": "API rate limit exceeded"}), headers=headers))
    with pytest.raises(ActionError, match="rate limited") as info:
        await provider.plan(fix(replicas="3"), key=KEY)
    assert info.value.retryable
    assert info.value.retry_after == 31


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (502, True), (503, True), (409, True), (422, False), (400, False)]
)
async def test_status_codes_map_to_retryable_or_not(
    provider: GitHubActions, gh: FakeGitHub, status: int, retryable: bool
) -> None:
    gh.fail_next(Reply(status, json.dumps({"message": "nope", "errors": [{"message": "detail here"}]})), method="PUT")
    with pytest.raises(ActionError, match=f"HTTP {status}") as info:
        await provider.apply(fix(**MEMORY), key=KEY)
    assert info.value.retryable is retryable
    assert "nope; detail here" in str(info.value)


async def test_the_token_is_scrubbed_from_vendor_messages(provider: GitHubActions, gh: FakeGitHub) -> None:
    gh.fail_next(Reply(500, json.dumps({"message": f"proxy saw Authorization: Bearer {TOKEN}"})))
    with pytest.raises(ActionError) as info:
        await provider.plan(fix(replicas="3"), key=KEY)
    assert TOKEN not in str(info.value)
    assert "***" in str(info.value)


async def test_unreachable_api_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = GitHubActions(api_url=f"http://127.0.0.1:{port}", token=TOKEN, repository=REPO)
    with pytest.raises(ActionError, match="cannot reach") as info:
        await provider.health()
    assert info.value.retryable
    assert TOKEN not in str(info.value)


# --- the fake itself follows GitHub where the provider relies on it ------------------------------------


def test_fake_rejects_a_stale_sha_and_a_missing_sha(gh: FakeGitHub) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{gh.url}/repos/{REPO}/contents/{PATH}"
    content = base64.b64encode(b"x: 1\n").decode()
    missing = httpx.put(url, headers=headers, json={"message": "m", "content": content})
    assert missing.status_code == 422
    stale = httpx.put(url, headers=headers, json={"message": "m", "content": content, "sha": "0" * 40})
    assert stale.status_code == 409
    assert "does not match" in stale.json()["message"]
    ok = httpx.put(url, headers=headers, json={"message": "m", "content": content, "sha": blob_sha(MANIFEST.encode())})
    assert ok.status_code == 200
    assert gh.file(REPO, PATH) == "x: 1\n"


def test_fake_answers_bad_credentials_like_github(gh: FakeGitHub) -> None:
    answer = httpx.get(f"{gh.url}/repos/{REPO}", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401
    assert answer.json()["message"] == "Bad credentials"
    assert answer.json()["documentation_url"].startswith("https://docs.github.com/")
