"""The Lua scripts, loaded once per client and called with keys and arguments spelt out."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from orchestrator.core import campaign_state, decisions, ledger_state, recipient_trace
from orchestrator.core.domains import lua_group_table

_PLACEHOLDER = re.compile(r"__[A-Z][A-Z_]*__")


@cache
def _constants() -> dict[str, str]:
    """Every placeholder a script may use, from the module that owns the rule behind it."""
    return {
        "__GROUPS__": lua_group_table(),
        **campaign_state.lua_constants(),
        **ledger_state.lua_tables(),
        **recipient_trace.lua_constants(),
        **decisions.lua_constants(),
    }


def _read(name: str) -> str:
    return resources.files("orchestrator.store").joinpath(f"lua/{name}.lua").read_text("utf-8")


@cache
def source(name: str) -> str:
    """A script's text with its placeholders filled in, and the ledger helpers in front when it uses them."""
    return render(_read(name), f"store/lua/{name}.lua")


def render(text: str, where: str = "script") -> str:
    """Fill in a Lua text's placeholders; put the ledger helpers in front when it uses them."""
    if "ledger_parse" in text or "ledger_format" in text:
        text = _read("_ledger") + "\n" + text
    constants = _constants()
    text = _PLACEHOLDER.sub(lambda m: constants.get(m.group(0), m.group(0)), text)
    left = sorted(set(_PLACEHOLDER.findall(text)))
    if left:
        msg = f"{where} uses unknown placeholders: {', '.join(left)}"
        raise LookupError(msg)
    return text


class Scripts:
    """Registered scripts of one Redis client (EVALSHA, falling back to EVAL after a restart)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.grant: AsyncScript = redis.register_script(source("grant"))
        self.claim: AsyncScript = redis.register_script(source("claim"))
        self.finish: AsyncScript = redis.register_script(source("finish"))
        self.expire: AsyncScript = redis.register_script(source("expire"))
        self.enqueue: AsyncScript = redis.register_script(source("enqueue"))
        self.account: AsyncScript = redis.register_script(source("account"))
        self.complete: AsyncScript = redis.register_script(source("complete"))
        self.lock_renew: AsyncScript = redis.register_script(source("lock_renew"))
        self.lock_release: AsyncScript = redis.register_script(source("lock_release"))


def as_str_list(reply: Any) -> list[str]:
    return [x.decode() if isinstance(x, bytes) else str(x) for x in reply]
