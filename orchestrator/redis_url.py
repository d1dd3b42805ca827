"""What a usable REDIS_URL looks like, checked without ever quoting it (it may hold a password)."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from redis.asyncio import ConnectionPool
from redis.connection import parse_url

#: The shape of REDIS_URL, for error messages.
REDIS_URL_FORM = "redis://[:PASSWORD@]HOST[:PORT][/DB], rediss://... or unix:///PATH.sock[?db=DB]"
#: LOG_LEVEL's accepted names (any case): the standard ones first, then logging's aliases.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "WARN", "FATAL", "NOTSET")
_ENCODE = "percent-encode / ? # @ in the user or password (%2F %3F %23 %40)"
_MAX_DB_DIGITS = 9
_MAX_PORT = 65535


def redis_url_problem(url: str) -> str | None:
    """None when redis-py and arq can both use `url`, else why not, in words that never quote it."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in {"redis", "rediss", "unix"}:
        return "the scheme must be redis://, rediss:// or unix://"
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [IPv6] host
        return "the host is not valid (an unclosed [ of an IPv6 address?)"
    if "@" in rest[len(parts.netloc) :]:  # a password holding / ? or # ended the host part early
        return _ENCODE
    problem = _place_problem(parts)
    if problem is None:
        try:
            parse_url(url)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
            # The options reach a connection object (nothing connects yet): an unknown one is a TypeError.
            ConnectionPool.from_url(url).make_connection()  # type: ignore[no-untyped-call]
        except ValueError:
            problem = "an option after ? has a value redis-py cannot read"
        except TypeError as exc:  # an option the connection does not take: its name, never its value
            found = re.search(r"argument '(\w+)'", str(exc))
            name = found.group(1) if found else ""
            problem = f"the option {name + ' ' if name else ''}after ? is not one redis-py takes here"
            if name.startswith("ssl") and scheme != "rediss":
                problem += "; the ssl_ ones need rediss://"
        except Exception:  # redis-py raises anything for some values (protocol=9, retry=x)
            problem = "an option after ? has a value redis-py cannot use"
    return problem


def _place_problem(parts: SplitResult) -> str | None:
    """What is wrong with the host, port, socket path or database of the URL split into `parts`."""
    db_texts = parse_qs(parts.query, keep_blank_values=True).get("db", [])
    if parts.scheme == "unix":
        if not parts.path:
            return "a unix:// URL needs the socket's path"
    else:
        problem = _host_problem(parts)
        if problem is not None:
            return problem
        if not db_texts and unquote(parts.path).strip("/"):
            db_texts = [unquote(parts.path).removeprefix("/")]
    if any(not _is_db(text) for text in db_texts):
        return "the database must be a whole number, 0 or more"
    return None


def _host_problem(parts: SplitResult) -> str | None:
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= _MAX_PORT:
        return "the port must be a whole number from 1 to 65535"
    if not parts.hostname:
        return "the host is missing"
    return None


def _is_db(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= _MAX_DB_DIGITS


def redis_passwords(url: str) -> list[str]:
    """The password in `url` (as written and decoded), found on the plain text as `safe_url` masks it."""
    rest = url.partition("://")[2]
    found: list[str] = []
    if "@" in rest:
        user, colon, password = rest.rsplit("@", 1)[0].partition(":")
        found.append(password if colon else user)
    for pair in rest.partition("?")[2].split("&"):
        name, _, value = pair.partition("=")
        if name.lower() in {"password", "username"}:
            found.append(value)
    return [v for p in found if p for v in {p, unquote(p)}]


def safe_url(url: str) -> str:
    """`url` fit to print: all between `://` and the last `@` (user, password) and any query replaced by ***.

    Done on the plain text, never by a URL parser: a password holding `/`, `?` or `#` would mislead it.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***" if "@" in url else url
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    base, qmark, query = rest.partition("?")
    if qmark:  # an option may hold a password (`?password=`): only the database's value is kept
        pairs = [pair.partition("=") for pair in query.split("&") if pair]
        base += "?" + "&".join(f"{k}={v if k == 'db' and v.isdigit() else '***'}" for k, _, v in pairs)
    return f"{scheme}://{base}"
