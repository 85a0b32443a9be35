"""The one Settings object, and loading of the YAML files under config/.

Settings are read from (highest first): constructor arguments, `AI_SRE_*` environment variables, a
`.env` file in the working directory, then `config/settings.yaml`. Nothing here runs at import time, so
the workflow sandbox can import `domain` without touching the environment or the disk.
"""

from __future__ import annotations

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
    def _refuse_placeholders_outside_dev(self) -> Settings:
        if self.env == "dev":
            return self
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


class WorkspaceConfig(BaseModel):
    """One tenant: its name and the namespaces its actions may touch (empty = all)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    description: str = ""
    allowed_namespaces: list[str] = Field(default_factory=list)


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
    """Load and validate config/workspaces.yaml."""
    return load_yaml(config_dir / "workspaces.yaml", WorkspacesFile)


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
