"""The one Settings object, and loading of the YAML files under config/.

Settings are read from (highest first): constructor arguments, `AI_SRE_*` environment variables, a
`.env` file in the working directory, then `config/settings.yaml`. Nothing here runs at import time, so
the workflow sandbox can import `domain` without touching the environment or the disk.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote, unquote, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from domain.dedup import DedupConfig, GroupingConfig
from domain.models import Lifecycle, Severity

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

_PLACEHOLDERS = {"", "change-me", "changeme", "secret", "password", "xxx"}


class ConfigError(ValueError):
    """A configuration file or value is wrong; the message names the file and the key."""


class Settings(BaseSettings):
    """Process configuration. Secrets are SecretStr and never leave the process."""

    model_config = SettingsConfigDict(
        env_prefix="AI_SRE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        yaml_file=str(CONFIG_DIR / "settings.yaml"),
    )

    env: Literal["dev", "production"] = "dev"
    config_dir: Path = CONFIG_DIR
    data_dir: Path = Path("data")
    database_url: str = ""
    database_password: SecretStr | None = None

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "aisre-incidents"
    temporal_ui_url: str = "http://127.0.0.1:8233"

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_url: str = ""
    temporal_port: int = Field(default=7233, ge=1, le=65535)
    ui_port: int = Field(default=8233, ge=1, le=65535)

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    auto_resolve_after_seconds: int | None = Field(default=None, ge=60)
    default_workspace: str = "default"
    log_level: str = "INFO"
    query_timeout_seconds: float = Field(default=2.0, gt=0)

    # Security. API keys are HMAC-SHA256'd under secret_key (dev: a random one in data_dir/secret_key).
    secret_key: SecretStr | None = None
    redis_url: SecretStr | None = None  # shared rate limits across API replicas (may hold a password)
    # Token buckets ("N/second|minute|hour[;burst=B]", or "off"): per client IP and per API key.
    rate_limit_ip: str = "6000/minute"
    rate_limit_key: str = "12000/minute"
    max_json_depth: int = Field(default=64, ge=4, le=1000)
    cors_origins: list[str] = Field(default_factory=list)  # browser origins allowed to call the API
    cors_allow_credentials: bool = False

    # Diagnosis. With no Anthropic key the offline reasoner diagnoses (deterministic, no data leaves).
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    anthropic_model: str = "claude-sonnet-5-5"
    anthropic_max_tokens: int = Field(default=4096, ge=256)
    anthropic_timeout_seconds: float = Field(default=120.0, gt=0)
    diagnosis_max_tool_calls: int = Field(default=16, ge=1)
    diagnosis_max_total_tokens: int = Field(default=100_000, ge=1000)
    diagnosis_tool_output_chars: int = Field(default=20_000, ge=500)
    diagnosis_evidence_dir: Path | None = None  # default: <data_dir>/evidence

    # Kubernetes (read-only context for diagnosis): auto = in-cluster, else kubeconfig, else off.
    kubernetes_mode: Literal["auto", "in_cluster", "kubeconfig", "url", "off"] = "auto"
    kubeconfig: Path | None = None
    kubernetes_context: str | None = None
    kubernetes_url: str | None = None
    kubernetes_token: SecretStr | None = None
    kubernetes_verify_tls: bool = True

    # Remediation policy (config/policies.yaml adds freeze windows, blast-radius limits, two-person rule).
    dry_run: bool = True  # dry-run by default: actions show their diff and change nothing
    approval_required: bool = True
    max_scale_replicas: int = Field(default=20, ge=0)
    autonomy_enabled: bool = False
    autonomous_actions: list[str] = Field(default_factory=list)  # catalog kinds that may auto-execute
    approval_timeout_seconds: int = Field(default=3600, ge=60)  # an approval not given in time is a rejection

    # Action providers. Kubernetes actions use the kubernetes_* settings above.
    aws_region: str | None = None
    aws_endpoint_url: str | None = None  # e.g. a local ECS-compatible endpoint; default: AWS
    github_api_url: str = "https://api.github.com"
    github_token: SecretStr | None = None
    github_repository: str | None = None  # owner/name of the manifests repository
    github_manifest_path: str = "deploy/{namespace}/{deployment}.yaml"
    github_base_branch: str = "main"

    # Log backend for the fetch_logs tool.
    log_backend: Literal["file", "loki", "elasticsearch", "opensearch", "datadog", "off"] = "file"
    log_url: str | None = None  # Loki / Elasticsearch / OpenSearch base URL; Datadog site API URL
    log_index: str = "logs-*"  # Elasticsearch/OpenSearch index pattern
    log_username: str | None = None
    log_password: SecretStr | None = None
    log_api_key: SecretStr | None = None  # Datadog DD-API-KEY; Elasticsearch ApiKey; Loki bearer token
    log_app_key: SecretStr | None = None  # Datadog DD-APPLICATION-KEY
    log_tenant: str | None = None  # Loki X-Scope-OrgID
    log_file_dir: Path | None = None  # file backend; default: <data_dir>/logs-demo
    log_verify_tls: bool = True
    log_timeout_seconds: float = Field(default=10.0, gt=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment beats .env beats config/settings.yaml."""
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            file_secret_settings,
            YamlConfigSettingsSource(settings_cls),
        )

    @model_validator(mode="after")
    def _cors(self) -> Settings:
        if self.cors_allow_credentials and "*" in self.cors_origins:
            raise ValueError("cors_origins may not be * when cors_allow_credentials is on; list the origins")
        return self

    @model_validator(mode="after")
    def _refuse_placeholders_outside_dev(self) -> Settings:
        if self.env == "dev":
            return self
        key = self.secret_key
        if key is not None and (key.get_secret_value().strip().lower() in _PLACEHOLDERS or len(key) < 32):
            raise ValueError("AI_SRE_SECRET_KEY is a placeholder or shorter than 32 characters")
        password = self.database_password
        if password is not None and password.get_secret_value().strip().lower() in _PLACEHOLDERS:
            raise ValueError("AI_SRE_DATABASE_PASSWORD is a placeholder; set a real secret outside dev")
        # docker-compose.yml passes the password inside the URL (from .env.example's "change-me").
        url_password = urlsplit(self.database_url).password if self.database_url else None
        if url_password is not None and unquote(url_password).strip().lower() in _PLACEHOLDERS:
            raise ValueError("the password in AI_SRE_DATABASE_URL is a placeholder; set a real secret outside dev")
        return self

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'aisre.db').resolve()}"

    def resolved_api_url(self) -> str:
        return self.api_url or f"http://127.0.0.1:{self.api_port}"

    def workflow_ui_url(self, workflow_id: str, run_id: str | None) -> str:
        """Link to one workflow run in the Temporal UI."""
        base = self.temporal_ui_url.rstrip("/")
        # Stream keys come from vendors and may hold '/', '?' or '#': encode them as one path segment.
        run = f"/{quote(run_id, safe='')}" if run_id else ""
        return f"{base}/namespaces/{self.temporal_namespace}/workflows/{quote(workflow_id, safe='')}{run}/history"


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning validation errors into a ConfigError that names the keys."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe("settings (AI_SRE_* / .env / config/settings.yaml)", exc)) from exc


class FieldRule(BaseModel):
    """Where one alert field comes from in a workspace's own JSON, and how its values translate.

    `path` is dotted (`event.name`, `tags.service`, `items.0.id`); several paths are tried in order.
    `values` translates the raw value (case-insensitive), e.g. `{sev1: critical}` for severity or
    `{done: resolved}` for status; `default` applies when no path yields a value.
    """

    model_config = ConfigDict(extra="forbid")

    path: list[str] = Field(default_factory=list)
    values: dict[str, str] = Field(default_factory=dict)
    default: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `title: event.name` is shorthand for `title: {path: [event.name]}`.
        if isinstance(data, str):
            return {"path": [data]}
        if isinstance(data, list):
            return {"path": data}
        if isinstance(data, dict) and isinstance(data.get("path"), str):
            return {**data, "path": [data["path"]]}
        return data


MAPPABLE_FIELDS = (
    "title",
    "description",
    "severity",
    "status",
    "service",
    "namespace",
    "pod",
    "deployment",
    "fingerprint",
    "started_at",
    "ended_at",
    "labels",
    "annotations",
    "links",
)


class WebhookMapping(BaseModel):
    """A workspace's mapping of its in-house JSON onto the generic webhook source's alert fields.

    Unmapped fields fall back to the generic source's own guesses. `alerts` points at the list that
    holds several alerts in one body.
    """

    model_config = ConfigDict(extra="forbid")

    alerts: str | None = None
    fields: dict[str, FieldRule] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_fields_and_values(self) -> WebhookMapping:
        unknown = sorted(set(self.fields) - set(MAPPABLE_FIELDS))
        if unknown:
            raise ValueError(f"unknown alert field(s) {', '.join(unknown)}; mappable: {', '.join(MAPPABLE_FIELDS)}")
        for name, enum in (("severity", Severity), ("status", Lifecycle)):
            rule = self.fields.get(name)
            if rule is None:
                continue
            allowed = {e.value for e in enum}
            bad = sorted({v for v in [*rule.values.values(), rule.default] if v is not None} - allowed)
            if bad:
                raise ValueError(f"{name} values must be one of {', '.join(sorted(allowed))}; got {', '.join(bad)}")
        return self


def check_secret_reference(ref: str, where: str) -> None:
    """Refuse anything but `env:NAME` / `file:/path` where a config file names a secret (files are in git)."""
    kind, _, target = ref.partition(":")
    if kind not in {"env", "file"} or not target:
        raise ValueError(
            f"{where}: {ref[:4]}... is not a reference; write env:VARIABLE or file:/path "
            "(secrets themselves never go into this file)"
        )


def resolve_secret(ref: str, what: str) -> SecretStr:
    """Read a secret reference now (`env:NAME` or `file:/path`); ConfigError naming `what` when unusable."""
    kind, _, target = ref.partition(":")
    if kind == "env":
        value = os.environ.get(target)
        if not value:
            raise ConfigError(f"{what}: ${target} is not set")
        return SecretStr(value)
    if kind == "file":
        try:
            return SecretStr(Path(target).read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read {target}: {exc.strerror}") from exc
    raise ConfigError(f"{what}: not a secret reference (env:VARIABLE or file:/path)")


class SlackAppConfig(BaseModel):
    """The workspace's Slack app: signing secrets (references; several = rotation) and who may press buttons."""

    model_config = ConfigDict(extra="forbid")

    signing_secrets: list[str] = Field(min_length=1)
    # Slack member id (U0123ABC) -> role in this workspace. Nobody else may approve or reject from Slack.
    roles: dict[str, Literal["viewer", "operator", "admin"]] = Field(default_factory=dict)
    team_id: str | None = None  # when set, payloads from another Slack team are refused

    @model_validator(mode="after")
    def _references(self) -> SlackAppConfig:
        for ref in self.signing_secrets:
            check_secret_reference(ref, "slack.signing_secrets")
        return self

    def secrets(self, workspace: str) -> list[SecretStr]:
        """The signing secrets, read now from the environment or files."""
        return [resolve_secret(ref, f"workspace {workspace}: slack signing secret") for ref in self.signing_secrets]


class WorkspaceConfig(BaseModel):
    """One tenant: namespaces its actions may touch (empty = all), dedup/grouping, webhook secrets, mapping."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    description: str = ""
    allowed_namespaces: list[str] = Field(default_factory=list)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    grouping: GroupingConfig = Field(default_factory=GroupingConfig)
    # Per source slug, references to the signing secrets (`env:NAME` or `file:/path`, never the secret
    # itself: this file is in git). Several entries = rotation: a signature under any of them passes.
    webhook_secrets: dict[str, list[str]] = Field(default_factory=dict)
    webhook_mapping: WebhookMapping | None = None
    # Channels (names from routing.yaml) this workspace's notifications may use; empty = any.
    channels: list[str] = Field(default_factory=list)
    slack: SlackAppConfig | None = None
    # Webhook senders that can set neither X-API-Key nor Authorization may put the key in ?api_key=
    # (it then shows up in proxies' access logs: opt in per workspace, ingest routes only).
    allow_query_key: bool = False

    @model_validator(mode="after")
    def _secret_references(self) -> WorkspaceConfig:
        for source, refs in self.webhook_secrets.items():
            for ref in refs:
                check_secret_reference(ref, f"webhook_secrets.{source}")
        return self

    def secrets_for(self, source: str) -> list[SecretStr]:
        """The signing secrets configured for a source, read now from the environment or files."""
        return [
            resolve_secret(ref, f"workspace {self.name}: webhook secret for {source}")
            for ref in self.webhook_secrets.get(source, [])
        ]


class WorkspacesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspaces: list[WorkspaceConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> WorkspacesFile:
        names = [w.name for w in self.workspaces]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate workspace names: {', '.join(dupes)}")
        return self


def load_workspaces(config_dir: Path = CONFIG_DIR) -> WorkspacesFile:
    """Load and validate config/workspaces.yaml, including that every secret reference resolves."""
    loaded = load_yaml(config_dir / "workspaces.yaml", WorkspacesFile)
    for workspace in loaded.workspaces:
        for source in workspace.webhook_secrets:
            workspace.secrets_for(source)
    return loaded


RECHECK_SECONDS = 1.0


class WorkspaceDirectory:
    """workspaces.yaml, re-read when it changes so a fixed mapping or rotated secret needs no restart.

    An edit that does not validate is reported and the last good configuration stays in force: a typo
    must not stop alert intake. Workspaces not in the file get the defaults (dev mode, tests).
    """

    def __init__(self, config_dir: Path = CONFIG_DIR) -> None:
        self._path = config_dir / "workspaces.yaml"
        self._config_dir = config_dir
        self._stamp: tuple[int, int] | None = None
        self._checked = float("-inf")
        self._by_name: dict[str, WorkspaceConfig] = {}
        self.last_error: str | None = None
        self._reload(strict=True)

    def _reload(self, *, strict: bool) -> None:
        try:
            stat = self._path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        if stamp is not None and stamp == self._stamp:
            return
        try:
            loaded = load_workspaces(self._config_dir)
        except ConfigError as exc:
            if strict:
                raise
            self.last_error = str(exc)
            log.error("keeping the previous workspace configuration: %s", exc)
            self._stamp = stamp
            return
        self._by_name = {w.name: w for w in loaded.workspaces}
        self._stamp = stamp
        self.last_error = None

    def _refresh(self) -> None:
        # Every webhook asks: look at the file at most once a second, not once per request.
        now = time.monotonic()
        if now - self._checked >= RECHECK_SECONDS:
            self._checked = now
            self._reload(strict=False)

    def all(self) -> list[WorkspaceConfig]:
        """Every workspace the file lists."""
        self._refresh()
        return list(self._by_name.values())

    def known(self, name: str) -> bool:
        """True when workspaces.yaml lists the workspace."""
        self._refresh()
        return name in self._by_name

    def get(self, name: str) -> WorkspaceConfig:
        """The workspace's configuration (defaults for a workspace the file does not list)."""
        self._refresh()
        return self._by_name.get(name) or WorkspaceConfig(name=name)


M = TypeVar("M", bound=BaseModel)


def load_yaml(path: Path, model: type[M]) -> M:
    """Parse a YAML file into `model`; errors name the file and the offending key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigError(_describe(str(path), exc)) from exc


def _describe(where: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{where}: {key}: {err['msg']}")
    return "; ".join(parts)
