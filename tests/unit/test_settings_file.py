"""The credentials file: `ORCHESTRATE_ENV_FILE` names it, `.env` in the working directory otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.settings import ENV_FILE_VARIABLE, SettingsError, load_settings

SECRET = "file-secret-Value-9"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("REDIS_URL", "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "LOG_FORMAT", ENV_FILE_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_the_named_file_is_read_and_its_keys_stay_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    creds = tmp_path / "etc" / "orchestrate.env"
    creds.parent.mkdir()
    creds.write_text(
        f"REDIS_URL=redis://:pw{SECRET}@127.0.0.1:6390/3\n"
        f"TENCENTCLOUD_SECRET_ID=AKID{SECRET}\nTENCENTCLOUD_SECRET_KEY={SECRET}\n",
        encoding="utf-8",
    )
    (tmp_path / ".env").write_text("REDIS_URL=redis://127.0.0.1:6391/4\n", encoding="utf-8")  # not this one
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(creds))
    s = load_settings()
    assert s.redis_url == f"redis://:pw{SECRET}@127.0.0.1:6390/3"
    assert s.tencentcloud_secret_key is not None
    assert s.tencentcloud_secret_key.get_secret_value() == SECRET
    assert SECRET not in repr(s)
    assert SECRET not in str(s)
    assert "redis_url='redis://***@127.0.0.1:6390/3'" in repr(s)  # the Redis password too
    assert SECRET not in str(s.tencentcloud_secret_key)


def test_a_bad_line_in_the_named_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    creds = tmp_path / "creds.env"
    creds.write_text(f"LOG_FORMAT={SECRET}\n", encoding="utf-8")
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(creds))
    with pytest.raises(SettingsError, match="setting LOG_FORMAT: expected one of auto, console, json") as info:
        load_settings()
    assert SECRET not in str(info.value)


def test_a_named_file_that_is_missing_stops_with_its_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(tmp_path / "typo.env"))
    with pytest.raises(SettingsError, match=rf"setting {ENV_FILE_VARIABLE}: the file .*typo\.env.* does not exist"):
        load_settings()


def test_without_the_variable_dot_env_in_the_working_directory_is_read(tmp_path: Path) -> None:
    assert load_settings().redis_url == "redis://127.0.0.1:6379/0"  # no file: the default
    (tmp_path / ".env").write_text("REDIS_URL=redis://127.0.0.1:6391/4\n", encoding="utf-8")
    assert load_settings().redis_url == "redis://127.0.0.1:6391/4"


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("SES_REGION", "mars", "setting SES_REGION: expected one of ap-guangzhou, ap-hongkong, ap-singapore"),
        ("WEB_PORT", "70000", "setting WEB_PORT: expected a whole number at least 0 and at most 65535"),
    ],
)
def test_a_setting_out_of_its_range_names_the_range(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str, said: str
) -> None:
    """A region Tencent does not offer SES in stops every command, not only `check`; a port's message names
    both its bounds."""
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(tmp_path / "none.env"))
    (tmp_path / "none.env").write_text("", encoding="utf-8")
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value) == said
