"""Settings refused up front, through the CLI: a settings file python-dotenv cannot parse, a malformed
SES_ENDPOINT, an ACCOUNT_RATE_PER_S above Tencent's 20 calls/s. Each is exit 2 and one line naming the
file and line or the setting, with no traceback and no value (it may be a key)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import AppContext, main
from orchestrator.commands import check
from orchestrator.settings import ENV_FILE_VARIABLE, Settings, SettingsError, load_settings
from tests.pipeline_helpers import write_campaign

SECRET = "SKdefault-Top5ecret-Value"
ACCOUNTS = '{"marketing": {"secret_id": "AKIDmarketing", "secret_key": "' + SECRET + '-2"}}'
NOTHING_LISTENS = "redis://127.0.0.1:1/0"  # port 1: nothing answers there, the settings fail first anyway
ENDPOINT_WORDS = "setting SES_ENDPOINT: expected https://host or http://host:port"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting of the shell running the tests, no `.env` of the checkout, no state a running `up` recorded."""
    for name in list(os.environ):
        if name.startswith(("TENCENTCLOUD_", "SES_", "ORCHESTRATE_", "ACCOUNT_", "REDIS_", "LOG_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ORCHESTRATE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("REDIS_URL", NOTHING_LISTENS)
    monkeypatch.chdir(tmp_path)


def _invoke(args: list[str], **env: str) -> Result:
    return CliRunner().invoke(main, args, env=env)


def _one_line(result: Result, names: str, *hidden: str) -> str:
    """The run ended with exit 2 and one error line holding `names`, no traceback, none of `hidden`."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert names in lines[0], lines[0]
    for text in hidden:
        assert text not in result.output
    return lines[0]


def _bad_file(tmp_path: Path) -> Path:
    """Line 3 opens a quote it never closes; the next line (the accounts) would be swallowed with it."""
    path = tmp_path / "bad.env"
    path.write_text(
        f"TENCENTCLOUD_SECRET_ID=AKID{SECRET}\n\n"
        f'TENCENTCLOUD_SECRET_KEY="{SECRET}\n'
        f"ORCHESTRATE_ACCOUNTS={ACCOUNTS}\n"
        "LOG_LEVEL=INFO\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("argv", [["status"], ["check", "CAMPAIGN"], ["validate", "CAMPAIGN"]])
def test_a_line_the_settings_file_cannot_parse_stops_every_command(tmp_path: Path, argv: list[str]) -> None:
    """Not a warning of python-dotenv's with the key and the accounts quietly missing: the file and the line
    are named, none of the file's text (the key) shown."""
    path = _bad_file(tmp_path)
    campaign = write_campaign(tmp_path, 3, identities=1)
    args = [str(campaign) if a == "CAMPAIGN" else a for a in argv]
    result = _invoke(args, **{ENV_FILE_VARIABLE: str(path), "SES_ENDPOINT": "http://127.0.0.1:1"})
    line = _one_line(result, f"the settings file {str(path)!r} cannot be parsed at line 3 (", SECRET, "AKID")
    assert "python-dotenv" not in result.output
    assert "TENCENTCLOUD_SECRET_KEY" not in line


def test_the_default_dot_env_is_checked_too_and_every_bad_line_is_named(tmp_path: Path) -> None:
    """Blank lines before a bad statement do not shift its line; a second bad line is named beside it."""
    (tmp_path / ".env").write_text(
        f"LOG_LEVEL=INFO\n\n\n   TENCENTCLOUD_SECRET_KEY='{SECRET}\nSES_REGION=ap-guangzhou\nWEB_PORT=\"8080\n",
        encoding="utf-8",
    )
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value).startswith("the settings file '.env' cannot be parsed at lines 4, 6 (")
    assert SECRET not in str(info.value)


def test_a_settings_file_that_parses_is_read_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Comments, quotes, `export` and a quoted value spanning lines are python-dotenv's syntax, not errors."""
    path = tmp_path / "good.env"
    path.write_text(
        f"# the default account\nexport TENCENTCLOUD_SECRET_ID='AKID{SECRET}'\n"
        f'TENCENTCLOUD_SECRET_KEY="{SECRET}"  # inline comment\n'
        f"ORCHESTRATE_ACCOUNTS='{ACCOUNTS}'\nSES_ENDPOINT=\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(path))
    settings = load_settings()
    assert settings.tencentcloud_secret_key is not None
    assert settings.tencentcloud_secret_key.get_secret_value() == SECRET
    assert set(settings.accounts) == {"marketing"}
    assert not settings.ses_endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "ftp://x.example",
        "http://host.example:1/path",
        "http://[bad",
        "http://h:port",
        "https://user:Pa55word@ses.example.com",
        "https://ses.example.com/?Region=x",
        "https://ses.example.com#top",
    ],
)
@pytest.mark.parametrize("command", ["check", "status"])
def test_a_malformed_ses_endpoint_stops_every_command(tmp_path: Path, endpoint: str, command: str) -> None:
    """Refused when the settings are read, by the rule the SDK's profile applies: one line, exit 2."""
    args = [command, str(write_campaign(tmp_path, 3, identities=1))] if command == "check" else [command]
    result = _invoke(args, SES_ENDPOINT=endpoint)
    line = _one_line(result, ENDPOINT_WORDS, endpoint)
    assert "BadEndpoint" not in line


@pytest.mark.parametrize(
    "endpoint", ["ses.tencentcloudapi.com", "https://ses.tencentcloudapi.com/", "http://[::1]:8765"]
)
def test_a_usable_ses_endpoint_is_taken(endpoint: str) -> None:
    assert Settings(_env_file=None, SES_ENDPOINT=endpoint).ses_endpoint == endpoint


def test_check_refuses_an_endpoint_set_after_the_settings_were_read(tmp_path: Path) -> None:
    """`check` itself never crashes on SES_ENDPOINT (settings changed after they were read: no validation)."""
    settings = Settings(_env_file=None).model_copy(update={"ses_endpoint": "ftp://x.example"})
    campaign = write_campaign(tmp_path, 3, identities=1)
    result = CliRunner().invoke(check.command, [str(campaign)], obj=AppContext(settings=settings))
    _one_line(result, ENDPOINT_WORDS, "ftp://")


@pytest.mark.parametrize("rate", ["20.5", "25", "1000"])
def test_an_account_rate_above_tencents_limit_is_refused(rate: str) -> None:
    """ACCOUNT_RATE_PER_S is the orchestrator's share of Tencent's 20 API calls/s: more is refused."""
    result = _invoke(["status"], ACCOUNT_RATE_PER_S=rate)
    line = _one_line(result, "setting ACCOUNT_RATE_PER_S: expected a number above 0 and at most 20 (Tencent allows")
    assert rate not in line


def test_an_account_rate_of_tencents_whole_limit_is_taken() -> None:
    """20 itself is allowed (no headroom: the operator's choice); `status` gets past the settings to Redis."""
    result = _invoke(["status"], ACCOUNT_RATE_PER_S="20")
    assert "setting ACCOUNT_RATE_PER_S" not in result.output
    assert "nothing listens at" in result.output
    assert result.exit_code == 1


@pytest.mark.parametrize("inside", ["\n", "\x1b[2J", " ", "\u00e9"])
@pytest.mark.parametrize("name", ["TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "ORCHESTRATE_ACCOUNTS"])
def test_a_tencent_key_with_a_space_or_control_byte_is_refused_unshown(name: str, inside: str) -> None:
    """Such a key reached the SDK, whose refusal of the signed header quoted it escaped (`\\n`), past the
    masking of the key as configured, into `check`, the logs and the event stream."""
    key = f"AKID{SECRET[:8]}{inside}{SECRET[8:]}"
    value = (
        '{"m": {"secret_id": "AKIDm1", "secret_key": ' + json.dumps(key) + "}}"
        if name == "ORCHESTRATE_ACCOUNTS"
        else key
    )
    result = _invoke(["status"], **{"TENCENTCLOUD_SECRET_ID": "AKIDok", "TENCENTCLOUD_SECRET_KEY": "SKok", name: value})
    line = _one_line(result, f"setting {name}: ", SECRET[:8], SECRET[8:])
    assert "no space, control or non-ASCII character" in line


def test_a_blank_or_plain_key_passes_the_key_rule() -> None:
    for key in ("", "  ", "AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA", "a+b/c=d_e-f.g"):
        result = _invoke(["status"], TENCENTCLOUD_SECRET_ID=key, TENCENTCLOUD_SECRET_KEY="SKok")
        assert "setting TENCENTCLOUD_SECRET_ID" not in result.output, (key, result.output)
        assert "nothing listens at" in result.output


def test_a_settings_file_variable_holding_the_files_text_is_not_echoed() -> None:
    """`ORCHESTRATE_ENV_FILE="$(cat .env)"`: the error says the value is no file name, without the value."""
    pasted = f"TENCENTCLOUD_SECRET_ID=AKID{SECRET}\nREDIS_URL=redis://:{SECRET}x@127.0.0.1:6379/0"
    line = _one_line(_invoke(["status"], **{ENV_FILE_VARIABLE: pasted}), f"setting {ENV_FILE_VARIABLE}: ", SECRET)
    assert "not a file name" in line
    named = _one_line(_invoke(["status"], **{ENV_FILE_VARIABLE: "/nowhere/prod.env"}), "'/nowhere/prod.env'")
    assert "does not exist" in named


def _accounts(**pairs: tuple[str, str]) -> str:
    return json.dumps({name: {"secret_id": sid, "secret_key": key} for name, (sid, key) in pairs.items()})


@pytest.mark.parametrize(
    ("env", "words"),
    [
        pytest.param(
            {"ORCHESTRATE_ACCOUNTS": _accounts(marketing=(f"AKID{SECRET}", "SK1"), sales=(f"AKID{SECRET}", "SK2"))},
            "accounts marketing and sales hold the same SecretId",
            id="one-account-two-names",
        ),
        pytest.param(
            {
                "TENCENTCLOUD_SECRET_ID": f"AKID{SECRET}",
                "TENCENTCLOUD_SECRET_KEY": "SK0",
                "ORCHESTRATE_ACCOUNTS": _accounts(marketing=(f"AKID{SECRET}", "SK0")),
            },
            "accounts default and marketing hold the same SecretId",
            id="the-default-under-another-name",
        ),
        pytest.param(
            {
                "TENCENTCLOUD_SECRET_ID": "AKIDenv",
                "TENCENTCLOUD_SECRET_KEY": "SK0",
                "ORCHESTRATE_ACCOUNTS": _accounts(default=(f"AKID{SECRET}", "SK1")),
            },
            "the default account is set twice, with different keys",
            id="default-set-twice",
        ),
        pytest.param(
            {"ORCHESTRATE_ACCOUNTS": _accounts(**{f"AKID{SECRET}": ("AKIDm", "SKm")})},
            "1 account name(s) no identity's `account:` can name",
            id="a-key-in-the-name's-place",
        ),
        pytest.param(
            {"ORCHESTRATE_ACCOUNTS": _accounts(Marketing=("AKIDm", "SKm"))},
            "1 account name(s) no identity's `account:` can name",
            id="a-name-with-capitals",
        ),
        pytest.param(
            {
                "ORCHESTRATE_ACCOUNTS": json.dumps(
                    {"marketing": {"secret_id": "AKIDm", "secret_key": SECRET, "region": "ap-singapore"}}
                )
            },
            "(account marketing holds only secret_id and secret_key: every account uses SES_REGION",
            id="a-region-per-account",
        ),
        pytest.param(
            {"ORCHESTRATE_ACCOUNTS": _accounts(marketing=("AKIDm", f"{SECRET} x"))},
            "(secret_key of account marketing: a Tencent key holds",
            id="a-bad-key-names-its-account",
        ),
    ],
)
def test_accounts_that_cannot_work_together_are_refused_by_name_never_by_key(env: dict[str, str], words: str) -> None:
    """Two names for one Tencent account gave it two API budgets (a run went to 20 calls/s and 392 throttled
    answers in 40 s); a `region` per account was dropped unsaid; a name no identity can write was kept."""
    _one_line(_invoke(["status"], **env), words, SECRET)


def test_the_same_pair_given_twice_for_the_default_account_is_one_account() -> None:
    env = {"TENCENTCLOUD_SECRET_ID": "AKIDsame", "TENCENTCLOUD_SECRET_KEY": "SKsame"}
    result = _invoke(["status"], **env, ORCHESTRATE_ACCOUNTS=_accounts(default=("AKIDsame", "SKsame")))
    assert "nothing listens at" in result.output


def test_blank_default_keys_beside_a_default_account_in_the_json_are_no_second_pair() -> None:
    """An emptied `.env` line (TENCENTCLOUD_SECRET_ID=) is no key: the JSON's default pair is the only one."""
    env = {"TENCENTCLOUD_SECRET_ID": "", "TENCENTCLOUD_SECRET_KEY": ""}
    result = _invoke(["status"], **env, ORCHESTRATE_ACCOUNTS=_accounts(default=("AKIDjson", "SKjson")))
    assert "nothing listens at" in result.output
