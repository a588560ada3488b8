"""Configuration from the environment and `.env` (DESIGN §7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Config, ConfigError
from bot.domain.grammar import Mode, Output, Spec

BOT = "xoxb-1111-2222-secretbotvalue"
SIGNING = "8f742231b10e8888abcd99yyyzzz85a5"


def test_defaults_match_the_design() -> None:
    config = Config.from_env({}, env_file=None)
    assert config.slack_api_url == "https://slack.com/api/"
    assert config.port == 3000
    assert config.ailab_base_url == "https://www.ailabapi.com"
    assert config.aidge_base_url == "https://api.aidc-ai.com/rest"
    assert config.aidge_trial is False
    assert config.picwish_base_url == "https://techhk.aoscdn.com"
    assert config.db_path == Path("cutout.db")
    assert config.data_dir == Path("cutout-data")
    assert config.default_spec == Spec(Mode.PRODUCT)
    assert config.allow_private_urls is False
    assert config.socket_mode is False


def test_every_design_variable_is_read() -> None:
    config = Config.from_env(
        {
            "SLACK_BOT_TOKEN": BOT,
            "SLACK_APP_TOKEN": "xapp-1-A1-secretapp",
            "SLACK_SIGNING_SECRET": SIGNING,
            "SLACK_API_URL": "http://127.0.0.1:9/api",
            "PORT": "8080",
            "AILAB_API_KEY": "ailab-secret",
            "AILAB_BASE_URL": "http://127.0.0.1:10/",
            "AIDGE_APP_KEY": "512345",
            "AIDGE_APP_SECRET": "aidge-secret",
            "AIDGE_BASE_URL": "http://127.0.0.1:11/rest",
            "AIDGE_TRIAL": "true",
            "PICWISH_API_KEY": "picwish-secret",
            "PICWISH_BASE_URL": "http://127.0.0.1:12",
            "CUTOUT_DB_PATH": "/tmp/x.db",
            "CUTOUT_DATA_DIR": "/tmp/data",
            "CUTOUT_DEFAULT_SPEC": "apparel tops whiteBK",
            "CUTOUT_ALLOW_PRIVATE_URLS": "yes",
        },
        env_file=None,
    )
    assert config.slack_bot_token == BOT
    assert config.socket_mode is True
    assert config.slack_api_url == "http://127.0.0.1:9/api/"
    assert config.port == 8080
    assert config.ailab_base_url == "http://127.0.0.1:10"
    assert config.aidge_app_key == "512345"
    assert config.aidge_trial is True
    assert config.picwish_base_url == "http://127.0.0.1:12"
    assert config.db_path == Path("/tmp/x.db")
    assert config.data_dir == Path("/tmp/data")
    assert config.default_spec == Spec(Mode.APPAREL, output=Output.WHITE, classes=("tops",))
    assert config.allow_private_urls is True
    assert set(config.secrets) == {
        BOT,
        "xapp-1-A1-secretapp",
        SIGNING,
        "ailab-secret",
        "aidge-secret",
        "picwish-secret",
    }


def test_the_database_password_is_a_secret_however_the_url_carries_it() -> None:
    for url in (
        "postgresql://cutout:pg-secret@db:5432/cutout",
        "postgresql://db/cutout?user=x&password=pg-secret",
    ):
        config = Config.from_env({"CUTOUT_DATABASE_URL": url}, env_file=None)
        assert config.database == url
        assert config.secrets == ("pg-secret",)
        assert "pg-secret" not in repr(config)


def test_a_database_url_that_is_not_postgresql_is_refused() -> None:
    with pytest.raises(ConfigError, match="CUTOUT_DATABASE_URL"):
        Config.from_env({"CUTOUT_DATABASE_URL": "mysql://db/cutout"}, env_file=None)


def test_repr_never_shows_secrets() -> None:
    config = Config.from_env(
        {"SLACK_BOT_TOKEN": BOT, "SLACK_SIGNING_SECRET": SIGNING, "AILAB_API_KEY": "ailab-secret"},
        env_file=None,
    )
    text = repr(config)
    assert BOT not in text
    assert SIGNING not in text
    assert "ailab-secret" not in text


def test_dotenv_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"SLACK_BOT_TOKEN={BOT}\nPORT=4000\nAILAB_API_KEY=from-file\n")
    config = Config.from_env({"AILAB_API_KEY": "from-env"}, env_file=env_file)
    assert config.slack_bot_token == BOT
    assert config.port == 4000
    assert config.ailab_api_key == "from-env"


def test_dotenv_in_the_working_directory_is_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("PORT=4321\n")
    monkeypatch.chdir(tmp_path)
    assert Config.from_env({}).port == 4321


def test_empty_values_count_as_unset() -> None:
    config = Config.from_env({"SLACK_APP_TOKEN": "", "PORT": " "}, env_file=None)
    assert config.socket_mode is False
    assert config.port == 3000


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "SLACK_BOT_TOKEN",
            "xoxp-user-token-value",
            "SLACK_BOT_TOKEN should be a bot token that starts with xoxb-",
        ),
        (
            "SLACK_APP_TOKEN",
            "xoxb-not-an-app-token",
            "SLACK_APP_TOKEN should be an app-level token that starts with xapp-",
        ),
        ("SLACK_API_URL", "slack.com/api", "SLACK_API_URL should be an http(s) URL"),
        ("PORT", "80a", "PORT should be a whole number from 0 to 65535"),
        ("PORT", "70000", "PORT should be a whole number from 0 to 65535"),
        ("AIDGE_TRIAL", "maybe", "AIDGE_TRIAL should be true or false"),
        ("CUTOUT_ALLOW_PRIVATE_URLS", "2", "CUTOUT_ALLOW_PRIVATE_URLS should be true or false"),
        ("CUTOUT_DEFAULT_SPEC", "apparel topz", "CUTOUT_DEFAULT_SPEC is not a valid spec"),
        ("CUTOUT_WORKERS", "0", "CUTOUT_WORKERS should be a whole number from 1 to 64"),
        ("AILAB_API_KEY", "two words", "AILAB_API_KEY contains white space"),
    ],
)
def test_malformed_setting_names_the_variable_in_one_line_without_its_value(
    name: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env({name: value}, env_file=None)
    message = str(caught.value)
    assert message.startswith(expected)
    assert "\n" not in message
    if name not in ("CUTOUT_DEFAULT_SPEC",):
        assert value.strip() not in message


def test_aidge_needs_key_and_secret_together() -> None:
    with pytest.raises(ConfigError, match=r"^AIDGE_APP_SECRET is not set"):
        Config.from_env({"AIDGE_APP_KEY": "512345"}, env_file=None)
    with pytest.raises(ConfigError, match=r"^AIDGE_APP_KEY is not set"):
        Config.from_env({"AIDGE_APP_SECRET": "s3cret"}, env_file=None)


def test_running_the_bot_needs_a_bot_token() -> None:
    with pytest.raises(ConfigError, match=r"^SLACK_BOT_TOKEN is not set"):
        Config.from_env({}, env_file=None).require_slack()


def test_http_mode_needs_the_signing_secret_socket_mode_does_not() -> None:
    with pytest.raises(ConfigError, match=r"^SLACK_SIGNING_SECRET is not set"):
        Config.from_env({"SLACK_BOT_TOKEN": BOT}, env_file=None).require_slack()
    Config.from_env({"SLACK_BOT_TOKEN": BOT, "SLACK_APP_TOKEN": "xapp-1-x"}, env_file=None).require_slack()
    Config.from_env({"SLACK_BOT_TOKEN": BOT, "SLACK_SIGNING_SECRET": SIGNING}, env_file=None).require_slack()
