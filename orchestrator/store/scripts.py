"""The Lua scripts, loaded once per client and called with keys and arguments spelt out."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from orchestrator.core.domains import lua_group_table


@cache
def source(name: str) -> str:
    text = resources.files("orchestrator.store").joinpath(f"lua/{name}.lua").read_text("utf-8")
    return text.replace("__GROUPS__", lua_group_table())


class Scripts:
    """Registered scripts of one Redis client (EVALSHA, falling back to EVAL after a restart)."""

    def __init__(self, redis: Redis) -> None:
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
