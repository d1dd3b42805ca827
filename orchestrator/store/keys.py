"""Every Redis key name the orchestrator uses, in one place (arq keeps its own `arq:*` keys)."""

from __future__ import annotations

PREFIX = "wo:"
#: Recipients' data and ledger states are kept in small hashes of this many entries each, so Redis
#: stores them in its compact listpack encoding (about 3x less memory than one big hash).
BUCKET = 100

CAMPAIGNS = f"{PREFIX}campaigns"  # zset: campaign id -> created at
EVENTS = f"{PREFIX}events"  # stream: everything that happens, one entry per event
MESSAGE_IDS = f"{PREFIX}msgid"  # hash: Tencent MessageId -> "campaign:index|identity|sent at" (store/feedback.py)
PACER_LOCK = f"{PREFIX}pacer:lock"  # string: the token of the one active pacer
SUBMIT_TURN = f"{PREFIX}submit:turn"  # string: the token of the submit committing now (submit_claim.commit_turn)
GRANT_SEQ = f"{PREFIX}grant:seq"  # counter: unique grant ids
VIRTUAL_NOW = f"{PREFIX}sim:now"  # string: a running `simulate --speed` publishes its virtual time here
INSTANCE = f"{PREFIX}instance"  # string: JSON {id, since}, written once; gone = Redis lost its data (store/instance.py)
DATA_LOST = f"{PREFIX}data_lost"  # string: JSON {at, instance}, written when a pacer saw INSTANCE vanish
BLOCKLIST = f"{PREFIX}supp:blocklist"  # hash: address -> JSON, the mirror of Tencent's blocklist (store/suppression.py)


def fingerprint(sha: str) -> str:
    return f"{PREFIX}fingerprint:{sha}"  # string: campaign id submitted from these exact files


def campaign(cid: str) -> str:
    return f"{PREFIX}campaign:{cid}"  # hash: spec, state, reason, submit counts


class CampaignKeys:
    """The keys of one campaign's ledger."""

    def __init__(self, cid: str) -> None:
        self.cid = cid
        base = f"{PREFIX}c:{cid}:"
        self.base = base
        self.meta = campaign(cid)
        self.queue = base + "q"  # list: indexes waiting, in shuffled order
        self.later = base + "later"  # zset: index -> not before (backoff, deferrals)
        self.held = (
            base + "held"
        )  # zset: domain group -> when the first identity's share frees up (groups with held recipients)
        self.held_prefix = base + "held:"  # list per domain group: indexes held back by the domain share
        self.blocks = base + "blocks"  # zset: recipient domain group -> blocked until (past entries pruned)
        self.counts = base + "counts"  # hash: state -> count
        self.inflight = base + "inflight"  # zset: index -> deadline of its grant or lease
        self.doubt = base + "doubt"  # zset: index -> next reconciliation attempt
        self.rec_prefix = base + "r:"  # hash per bucket: index -> the record (ledger.encode_record)
        self.state_prefix = base + "s:"  # hash per bucket: index -> ledger state
        self.old_block_prefix = base + "block:"  # before `blocks`: string per domain group (store/layout.py)
        self.hours_prefix = base + "hours:"  # hash per local date: "identity|hour" -> sends

    def rec(self, idx: int) -> str:
        return f"{self.rec_prefix}{idx // BUCKET}"

    def state(self, idx: int) -> str:
        return f"{self.state_prefix}{idx // BUCKET}"

    def held_list(self, group: str) -> str:
        return f"{self.held_prefix}{group}"

    def all_fixed(self) -> list[str]:
        return [self.queue, self.later, self.held, self.blocks, self.counts, self.inflight, self.doubt]


class IdentityKeys:
    """The keys of one sending identity's warm-up state, shared by every campaign that uses it."""

    def __init__(self, identity: str) -> None:
        base = f"{PREFIX}id:{identity}:"
        self.meta = f"{PREFIX}id:{identity}"  # hash: warm-up day, last sending date, settings
        self.hour = base + "hour"  # zset: grant -> time, the identity's rolling 60 minutes
        self.gcra = base + "gcra"  # hash: tat, interval (even spacing inside the hour)
        self.day_prefix = base + "day:"  # counter per local date
        self.domains = base + "dom"  # zset: recipient domain group -> its share's tat (past entries pruned)
        self.old_domain_prefix = base + "dom:"  # before `domains`: hash per domain group (store/layout.py)
        self.quota_prefix = base + "quota:"  # counter per Tencent (China-time) date: the daily quota
        self.groups = base + "groups"  # hash: provider group -> JSON GroupState (store/group_state.py)
        self.groups_stamp = base + "groups:stamp"  # string: a new random token at each write of `groups`
        self.group_tat = base + "gtat"  # zset: provider group -> tat of its own hourly cap (past entries pruned)
        self.group_day_prefix = base + "gday:"  # hash per local date: provider group -> sends

    def day(self, local_date: str) -> str:
        return f"{self.day_prefix}{local_date}"

    def quota_day(self, tencent_date: str) -> str:
        return f"{self.quota_prefix}{tencent_date}"

    def group_day(self, local_date: str) -> str:
        return f"{self.group_day_prefix}{local_date}"


IDENTITIES = f"{PREFIX}identities"  # set: every identity id ever registered


def account_gcra(account: str) -> str:
    return f"{PREFIX}acct:{account}:gcra"  # hash: tat, interval (Tencent's per-account send rate)


def account_budget(account: str) -> str:
    return f"{PREFIX}acct:{account}:calls"  # hash: timeline (send | other) -> time of its next free API call slot


def suppression(sender_domain: str) -> str:
    return f"{PREFIX}supp:domain:{sender_domain}"  # hash: address -> JSON, never mailed from this sender domain


GUARD_ACK = f"{PREFIX}guard:ack"  # hash: campaign -> time of the last acknowledged automatic pause (guarding.py)


def guard_warned(cid: str, identity: str, metric: str, day: str) -> str:
    """string: set once a guardrail warning of `metric` on `identity` was given on local date `day`."""
    return f"{PREFIX}guard:warned:{cid}:{identity}:{metric}:{day}"


# --- the web process: /healthz and /metrics read these ---
PACER_TICK = f"{PREFIX}pacer:tick"  # string: the pacer's clock time at its last tick
FB_TOTALS = f"{PREFIX}fb:totals"  # hash: "<metric>|<identity>|<campaign>" -> all-time count (the callbacks write it)


def account_stats(account: str) -> str:
    return f"{PREFIX}acct:{account}:stats"  # hash: calls, throttles (Tencent API calls this side made, all time)


# --- suppression (layout and entry format: store/suppression.py) ---
SUPPRESS_ALL = f"{PREFIX}supp:all"  # hash: address -> JSON, never mailed from any sender domain of ours
SUPPRESS_DOMAIN_PREFIX = f"{PREFIX}supp:domain:"  # + sender domain: the hashes of suppression()
SUPPRESS_DOMAINS = f"{PREFIX}supp:domains"  # set: the sender domains whose list was ever written (trace reads them)
BLOCKLIST_SYNCED = f"{PREFIX}supp:blocklist:synced"  # hash: Tencent account -> when its blocklist was last read


# --- Delivery feedback: Tencent's callbacks, the quality counters, the follow-up (store/feedback.py) ---
FB_UNKNOWN = f"{PREFIX}fb:unknown"  # counter: events whose MessageId was unknown when they came
FB_EARLY = f"{PREFIX}fb:early"  # zset: MessageId with events kept until its send is recorded -> first arrival
FB_PENDING = f"{PREFIX}fb:pending"  # zset: MessageId accepted, delivery not settled yet -> send time
FB_COHORTS = f"{PREFIX}fb:cohorts"  # hash: "<send hour>|<metric>|<i|c|g>|<id>" -> count (pruned after days)
FB_PRUNE = f"{PREFIX}fb:prune"  # string: set while the cohorts' last pruning is recent


def fb_message(message_id: str) -> str:
    return f"{PREFIX}fb:m:{message_id}"  # hash: "u:<metric>" once-per-message marks, "<event>|<ts>" -> event (trace)


def fb_early(message_id: str) -> str:
    return f"{PREFIX}fb:e:{message_id}"  # list: events that came before the send was recorded (an hour's TTL)


# --- per-recipient answers: `trace` and `export` (store/trace_index.py) ---
def trace_bucket(cid: str, n: int) -> str:
    """hash per share of a campaign's addresses: address -> "<row>:<index or i|d|s>" entries, "," between."""
    return f"{PREFIX}c:{cid}:a:{n}"


def dropped_bucket(cid: str, row: int) -> str:
    """hash per BUCKET data rows: row -> JSON [kind, detail, address cell], the rows submit did not load."""
    return f"{PREFIX}c:{cid}:x:{row // BUCKET}"


def history_bucket(cid: str, idx: int) -> str:
    """hash per BUCKET recipients: index -> its last outcomes, once more than a first clean accept happened."""
    return f"{PREFIX}c:{cid}:h:{idx // BUCKET}"


# --- Deferral bursts: deferrals and outcomes per identity and provider group (store/deferrals.py) ---
def fb_deferrals(bucket: int) -> str:
    """hash: "<identity>|<group>|d" deferrals and soft bounces, "...|o" outcomes, arrived in this minute."""
    return f"{PREFIX}fb:defer:{bucket}"
