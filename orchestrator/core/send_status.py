"""Tencent's GetSendEmailStatus `SendStatus` codes (spec/tencent-ses.md): 0 sent, anything else not sent."""

from __future__ import annotations

from typing import Final

#: The codes the orchestrator acts on: the address is blocklisted, the recipient unsubscribed, no record (yet).
BLOCKLISTED: Final = 1007
UNSUBSCRIBED: Final = 1013
NO_RECORD: Final = 2001
#: A status row's refusal -> the SendEmail error Tencent answers for the same reason: a send in doubt
#: whose own row says so is suppressed as that answer would have had it, never tried again.
REFUSAL_CODES: Final = {
    BLOCKLISTED: "FailedOperation.EmailAddrInBlacklist",
    UNSUBSCRIBED: "FailedOperation.ReceiverHasUnsubscribed",
}
#: SendStatus -> what it means, as Tencent's documentation lists them.
MEANINGS: Final = {
    1001: "internal error",
    1002: "internal error",
    1003: "internal error",
    1004: "timeout inside Tencent",
    1005: "internal error",
    1006: "too many mails to this address",
    1007: "the address is on the blocklist",
    1008: "rejected by the recipient's domain",
    1009: "internal error",
    1010: "the daily sending limit is reached",
    1011: "a template is required",
    1013: "the recipient has unsubscribed",
    2001: "no record",
    3007: "the template id is wrong",
    3008: "temporarily blocked by the recipient's domain",
    3009: "no permission for the template",
    3010: "the TemplateData is wrong",
    3014: "the sender domain is not verified",
    3020: "the recipient's mailbox type is blocklisted",
    3024: "the address failed Tencent's precheck",
    3030: "the bounce rate is too high: sending limited",
    3033: "the account's balance is insufficient",
}


def describe(code: int) -> str:
    """`SendStatus N` with its meaning when Tencent documents one."""
    meaning = MEANINGS.get(code)
    return f"SendStatus {code}" + (f" ({meaning})" if meaning else "")
