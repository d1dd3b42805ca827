"""What Tencent's API gateway checks in a request body (JSON, its nesting depth, each parameter's type),
the paging and date parameters the actions read, and the error answer an action raises."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Final

#: Deeper JSON is refused before it is parsed (an SES request nests 3 levels; json.loads recurses).
MAX_JSON_DEPTH: Final = 32
#: Tencent's Integer parameters are 64-bit.
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
#: The most rows a listing action returns a call.
PAGE_LIMIT: Final = 100

_ESCAPE: Final = re.compile(r"\\.", re.DOTALL)
_STRING: Final = re.compile(r'"[^"]*"')
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")
_AS_PARENS: Final = str.maketrans("[{]}", "(())")
_SHOWN_CHARS: Final = 40


class ApiError(Exception):
    """An error answer: Tencent's code and message."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message or code


class ParamError(ValueError):
    """A refused body: Tencent's code (InvalidParameter or InvalidParameterValue) and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# A parameter's declared type: "string", "integer", a one-element list [type] for an array,
# or a mapping of field name to type for an object. Undeclared parameters are not checked.
Spec = str | list[Any] | Mapping[str, Any]

_PAGE: Final[dict[str, Spec]] = {"Offset": "integer", "Limit": "integer"}
#: The request parameters of each emulated action, as the SDK's models declare them.
ACTIONS: Final[dict[str, dict[str, Spec]]] = {
    "SendEmail": {
        "FromEmailAddress": "string",
        "Destination": ["string"],
        "Subject": "string",
        "ReplyToAddresses": "string",
        "Cc": ["string"],
        "Bcc": ["string"],
        "Template": {"TemplateID": "integer", "TemplateData": "string"},
        "Simple": {"Html": "string", "Text": "string"},
        "Attachments": [{"FileName": "string", "Content": "string", "FileURL": "string"}],
        "Unsubscribe": "string",
        "TriggerType": "integer",
        "SmtpMessageId": "string",
        "SmtpHeaders": "string",
        "HeaderFrom": "string",
    },
    "GetSendEmailStatus": {"RequestDate": "string", "MessageId": "string", "ToEmailAddress": "string", **_PAGE},
    "ListEmailIdentities": {"TagList": [{"TagKey": "string", "TagValue": "string"}], **_PAGE},
    "GetEmailIdentity": {"EmailIdentity": "string"},
    "GetEmailTemplate": {"TemplateID": "integer"},
    "ListEmailTemplates": dict(_PAGE),
    "ListBlackEmailAddress": {
        "StartDate": "string",
        "EndDate": "string",
        "EmailAddress": "string",
        "TaskID": "string",
        **_PAGE,
    },
    "DeleteBlackList": {"EmailAddressList": ["string"]},
}


def too_deep(text: str, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests brackets deeper than `max_depth` or leaves them unbalanced; never recurses.

    Escapes and strings are removed first, the brackets left are reduced by deleting innermost
    pairs once per level: text within the limit is empty after `max_depth` rounds.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", _ESCAPE.sub("", text))).translate(_AS_PARENS)
    for _ in range(max_depth):
        reduced = brackets.replace("()", "")
        if reduced == brackets:
            break
        brackets = reduced
    return bool(brackets)


def _refuse_constant(name: str) -> Any:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


def loads(text: str, what: str = "The request body") -> Any:
    """Parse JSON as Tencent's gateway would, raising ParamError (InvalidParameter) for what it refuses."""
    if too_deep(text):
        msg = f"{what} is not valid JSON or nests deeper than {MAX_JSON_DEPTH} levels."
        raise ParamError("InvalidParameter", msg)
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        raise ParamError("InvalidParameter", f"{what} is not valid JSON.") from None


def parse_body(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is `{}`)."""
    try:
        text = body.decode("utf-8") if body else "{}"
    except UnicodeDecodeError:
        raise ParamError("InvalidParameter", "The request body is not UTF-8.") from None
    params = loads(text)
    if not isinstance(params, dict):
        raise ParamError("InvalidParameter", "The request body is not a JSON object.")
    return params


def check(action: str, params: Mapping[str, Any]) -> None:
    """Raise ParamError for the first declared parameter whose value has the wrong type or range."""
    _check_object(ACTIONS.get(action, {}), params, "")


def _check_object(spec: Mapping[str, Any], value: Mapping[str, Any], prefix: str) -> None:
    for name, field_spec in spec.items():
        if value.get(name) is not None:  # null is taken as absent
            _check(field_spec, value[name], f"{prefix}{name}")


def _check(spec: Spec, value: Any, path: str) -> None:
    if isinstance(spec, str):
        _check_scalar(spec, value, path)
    elif isinstance(spec, list):
        if not isinstance(value, list):
            raise _wrong_type(path)
        for i, item in enumerate(value):
            _check(spec[0], item, f"{path}.{i}")
    else:
        if not isinstance(value, dict):
            raise _wrong_type(path)
        _check_object(spec, value, f"{path}.")


def _check_scalar(kind: str, value: Any, path: str) -> None:
    if kind == "string":
        if not isinstance(value, str):
            raise _wrong_type(path)
        return
    # An integer: a JSON integer, an integral finite number (1e2) or a decimal string, within 64 bits.
    if isinstance(value, bool):
        raise _wrong_type(path)
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise _wrong_type(path)
        value = int(value)
    elif isinstance(value, str):
        digits = value.strip()
        if not re.fullmatch(r"-?\d{1,20}", digits):
            raise _wrong_type(path)
        value = int(digits)
    elif not isinstance(value, int):
        raise _wrong_type(path)
    if not INT64_MIN <= value <= INT64_MAX:
        shown = str(value)
        shown = shown if len(shown) <= _SHOWN_CHARS else shown[:_SHOWN_CHARS] + "..."
        msg = f"The value `{shown}` specified in the parameter `{path}` is not valid."
        raise ParamError("InvalidParameterValue", msg)


def _wrong_type(path: str) -> ParamError:
    return ParamError("InvalidParameter", f"The value type of parameter `{path}` is not valid.")


def page_param(p: Mapping[str, Any]) -> tuple[int, int]:
    """(Offset, Limit) of a listing request; ApiError when out of range."""
    try:
        offset, limit = int(p.get("Offset") or 0), int(p.get("Limit") or PAGE_LIMIT)
    except (TypeError, ValueError):
        raise ApiError("InvalidParameterValue", "Offset and Limit must be integers.") from None
    if limit > PAGE_LIMIT:
        raise ApiError("FailedOperation.InvalidLimit", "Limit may be at most 100.")
    if offset < 0 or limit < 1:
        raise ApiError("InvalidParameterValue", "Offset must be >= 0 and Limit >= 1.")
    return offset, limit


def date_param(value: Any, code: str) -> date:
    """A YYYY-MM-DD parameter; ApiError with `code` when it is not one."""
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ApiError(code, f"Bad date {value!r}, expected YYYY-MM-DD.") from None
