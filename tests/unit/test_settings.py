"""Settings and YAML config loading: precedence, validation, and errors that name the file and key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from domain.settings import (
    CONFIG_DIR,
    ConfigError,
    Settings,
    WorkspacesFile,
    load_settings,
    load_workspaces,
    load_yaml,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AI_SRE_* variables and no developer .env leak into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("AI_SRE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- load_yaml ----------------------------------------------------------------------------------


def test_valid_workspaces_file(tmp_path: Path) -> None:
    path = write(tmp_path, "workspaces.yaml", "workspaces:\n  - name: payments\n    allowed_namespaces: [pay]\n")
    loaded = load_yaml(path, WorkspacesFile)
    assert [(w.name, w.allowed_namespaces) for w in loaded.workspaces] == [("payments", ["pay"])]


def test_shipped_workspaces_file_is_valid() -> None:
    assert "default" in [w.name for w in load_workspaces(CONFIG_DIR).workspaces]


def test_wrong_type_names_file_and_dotted_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "workspaces.yaml",
        "workspaces:\n  - name: ok\n  - name: payments\n    allowed_namespaces: pay\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_yaml(path, WorkspacesFile)
    message = str(caught.value)
    assert str(path) in message
    assert "workspaces.1.allowed_namespaces" in message


def test_missing_required_key_names_file_and_dotted_key(tmp_path: Path) -> None:
    path = write(tmp_path, "workspaces.yaml", "workspaces:\n  - description: no name here\n")
    with pytest.raises(ConfigError) as caught:
        load_yaml(path, WorkspacesFile)
    message = str(caught.value)
    assert str(path) in message
    assert "workspaces.0.name" in message
    assert "required" in message.lower()


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "workspaces.yaml", "workspaces:\n  - name: a\n    namespaces: [x]\n")
    with pytest.raises(ConfigError, match=r"workspaces\.0\.namespaces"):
        load_yaml(path, WorkspacesFile)


def test_invalid_name_pattern(tmp_path: Path) -> None:
    path = write(tmp_path, "workspaces.yaml", "workspaces:\n  - name: Has Spaces\n")
    with pytest.raises(ConfigError, match=r"workspaces\.0\.name"):
        load_yaml(path, WorkspacesFile)


def test_invalid_yaml_syntax_names_file(tmp_path: Path) -> None:
    path = write(tmp_path, "workspaces.yaml", "workspaces:\n  - name: a\n   bad: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_yaml(path, WorkspacesFile)
    assert str(caught.value).startswith(f"{path}: not valid YAML")


def test_duplicate_workspace_names(tmp_path: Path) -> None:
    path = write(tmp_path, "workspaces.yaml", "workspaces:\n  - name: a\n  - name: b\n  - name: a\n")
    with pytest.raises(ConfigError) as caught:
        load_yaml(path, WorkspacesFile)
    message = str(caught.value)
    assert str(path) in message
    assert "duplicate workspace names: a" in message


@pytest.mark.parametrize("text", ["", "# only a comment\n", "workspaces: []\n"])
def test_empty_or_missing_workspaces_refused(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "workspaces.yaml", text)
    with pytest.raises(ConfigError, match="workspaces"):
        load_yaml(path, WorkspacesFile)


def test_top_level_list_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "workspaces.yaml", "- name: a\n")
    with pytest.raises(ConfigError, match=r"\(top level\)"):
        load_yaml(path, WorkspacesFile)


def test_missing_file_names_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="cannot read") as caught:
        load_yaml(path, WorkspacesFile)
    assert str(path) in str(caught.value)


def test_load_workspaces_reads_the_given_directory(tmp_path: Path) -> None:
    write(tmp_path, "workspaces.yaml", "workspaces:\n  - name: only-here\n")
    assert [w.name for w in load_workspaces(tmp_path).workspaces] == ["only-here"]


# --- Settings -----------------------------------------------------------------------------------


def test_defaults_come_from_settings_yaml() -> None:
    settings = load_settings()
    assert settings.env == "dev"
    assert settings.api_port == 8000
    assert settings.task_queue == "aisre-incidents"


def test_env_var_overrides_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_SRE_API_PORT", "9123")
    assert load_settings().api_port == 9123


def test_dotenv_in_working_directory_is_read(tmp_path: Path) -> None:
    write(tmp_path, ".env", "AI_SRE_TASK_QUEUE=from-dotenv\n")
    assert load_settings().task_queue == "from-dotenv"


def test_env_var_beats_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write(tmp_path, ".env", "AI_SRE_API_PORT=9001\n")
    monkeypatch.setenv("AI_SRE_API_PORT", "9002")
    assert load_settings().api_port == 9002


def test_overrides_beat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_SRE_API_PORT", "9002")
    assert load_settings(api_port=9003).api_port == 9003


@pytest.mark.parametrize("value", ["not-a-port", "0", "70000"])
def test_invalid_env_value_is_a_config_error_naming_the_key(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("AI_SRE_API_PORT", value)
    with pytest.raises(ConfigError, match="api_port"):
        load_settings()


@pytest.mark.parametrize("placeholder", ["change-me", "CHANGE-ME", " changeme ", ""])
def test_production_refuses_placeholder_password(monkeypatch: pytest.MonkeyPatch, placeholder: str) -> None:
    monkeypatch.setenv("AI_SRE_ENV", "production")
    monkeypatch.setenv("AI_SRE_DATABASE_PASSWORD", placeholder)
    with pytest.raises(ConfigError, match="placeholder"):
        load_settings()


def test_production_refuses_placeholder_password_in_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # docker-compose.yml passes the password inside the URL; .env.example's default is "change-me".
    monkeypatch.setenv("AI_SRE_ENV", "production")
    monkeypatch.setenv("AI_SRE_DATABASE_URL", "postgresql+asyncpg://aisre:change-me@postgresql:5432/aisre")
    with pytest.raises(ConfigError, match="placeholder"):
        load_settings()


def test_production_accepts_real_secrets() -> None:
    settings = load_settings(
        env="production",
        database_password="s3cr3t-R34L",
        database_url="postgresql+asyncpg://aisre:0a1b2c3d4e@postgresql:5432/aisre",
    )
    assert settings.database_password is not None
    assert settings.database_password.get_secret_value() == "s3cr3t-R34L"
    assert "s3cr3t-R34L" not in repr(settings)


def test_dev_tolerates_placeholders() -> None:
    settings = load_settings(database_password="change-me", database_url="postgresql://u:change-me@h/db")
    assert settings.env == "dev"


def test_database_url_defaults_to_sqlite_in_data_dir(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "state")
    assert settings.resolved_database_url() == f"sqlite+aiosqlite:///{(tmp_path / 'state' / 'aisre.db').resolve()}"


def test_relative_data_dir_resolves_against_working_directory(tmp_path: Path) -> None:
    url = load_settings(data_dir=Path("data")).resolved_database_url()
    assert url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'data' / 'aisre.db'}"


def test_explicit_database_url_wins() -> None:
    url = "postgresql+asyncpg://aisre@127.0.0.1:5432/aisre"
    assert load_settings(database_url=url).resolved_database_url() == url


def test_api_url_defaults_to_loopback_port() -> None:
    assert load_settings(api_port=8111).resolved_api_url() == "http://127.0.0.1:8111"
    assert load_settings(api_url="https://sre.example").resolved_api_url() == "https://sre.example"


def test_workflow_ui_url() -> None:
    settings = Settings(temporal_ui_url="http://ui.local:8233/", temporal_namespace="prod")
    assert (
        settings.workflow_ui_url("incident-default-webhook-abc", "run-1")
        == "http://ui.local:8233/namespaces/prod/workflows/incident-default-webhook-abc/run-1/history"
    )
    assert (
        settings.workflow_ui_url("incident-default-webhook-abc", None)
        == "http://ui.local:8233/namespaces/prod/workflows/incident-default-webhook-abc/history"
    )


def test_workflow_ui_url_encodes_the_workflow_id() -> None:
    # Stream keys come from vendors; a '/' or '#' in one must not change the link's path or fragment.
    url = Settings(temporal_ui_url="http://ui").workflow_ui_url("incident-default-webhook:a/b#c", "r")
    assert url == "http://ui/namespaces/default/workflows/incident-default-webhook%3Aa%2Fb%23c/r/history"
