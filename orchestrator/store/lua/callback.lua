-- callback.lua: count a batch of Tencent's delivery events, each at most once per message and metric.
-- The rules (which metric an event is, what settles or suppresses) are decided in Python by
-- orchestrator/core/quality.py; this script applies them, atomically for the whole batch, in the
-- cohort of the mail's send time, read from the MessageId map ("campaign:index|identity|sent at",
-- written by finish.lua; an older "campaign:index" counts under identity '-' in the event's hour).
-- Deferrals and outcomes are also counted per identity and domain group in the minute of their
-- arrival (core/domain_shaping.py decides which metric is which and judges a burst from them).
-- KEYS: 1 message ids (wo:msgid), 2 totals, 3 unknown counter, 4 early zset, 5 pending zset,
--       6 cohorts hash, 7 this minute's deferral hash, then per event (3 each): message hash,
--       early list, suppression hash
-- ARGV: 1 now, 2 message TTL s, 3 early TTL s, 4 trace cap, 5 deferral hash TTL s, then per event
--       (10 each): MessageId, metric, trace field, event JSON, recipient domain group, address (folded:
--       the suppression's field, core/addresses.fold),
--       suppression JSON ('' none), settles (1/0), event time, burst kind ('d' deferral, 'o' other
--       outcome, '' neither)
-- A suppression (complaint, hard bounce, unsubscribe) is written even when the MessageId is unknown.
-- Returns: {counted, duplicates, early (MessageId unknown), suppressions written, suppressions refused}
local message_ids, totals, unknown, early_zset, pending = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cohorts, deferrals = KEYS[6], KEYS[7]
local now, msg_ttl, early_ttl, cap = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local deferral_ttl = ARGV[5]
local n = (#ARGV - 5) / 10

local function keep_early(msgid, body, early_list)
  -- The send is not recorded yet (or never will be): keep the event a while, apply it later.
  redis.call('INCR', unknown)
  redis.call('RPUSH', early_list, body)
  redis.call('LTRIM', early_list, -cap, -1)
  redis.call('EXPIRE', early_list, early_ttl)
  redis.call('ZADD', early_zset, 'NX', now, msgid)
end

local counted, dups, early, supp, refused = 0, 0, 0, 0, 0

local function suppress(key, address, entry)
  if entry == '' then return end  -- the event suppresses nothing
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'hash' and t ~= 'none' then  -- still the older SET layout: left to its migration
    refused = refused + 1
    return
  end
  redis.call('HSETNX', key, address, entry)
  supp = supp + 1
end
for i = 0, n - 1 do
  local a, k = 5 + i * 10, 7 + i * 3
  local msgid, metric, field, body, group = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local address, supp_json, settles, event_at = ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9]
  local burst_kind = ARGV[a + 10]
  local message, early_list, supp_key = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local value = redis.call('HGET', message_ids, msgid)
  if not value then
    keep_early(msgid, body, early_list)
    early = early + 1
    -- The address asked not to be mailed (or cannot be): that holds whether or not the send is known
    -- (a complaint days after the campaign was compacted, an event before its send was recorded).
    suppress(supp_key, address, supp_json)
  else
    local head, identity, sent_at = string.match(value, '^([^|]*)|([^|]*)|(.*)$')
    if not head then head, identity, sent_at = value, '-', event_at end
    local campaign = string.match(head, '^(.*):%d+$') or head
    local hour = tostring(math.floor((tonumber(sent_at) or tonumber(event_at)) / 3600))
    local fresh = redis.call('HEXISTS', message, field) == 0
    if fresh and redis.call('HLEN', message) < cap then redis.call('HSET', message, field, body) end
    if redis.call('HSETNX', message, 'u:' .. metric, now) == 1 then
      counted = counted + 1
      for _, s in ipairs({'|i|' .. identity, '|c|' .. campaign, '|g|' .. group}) do
        redis.call('HINCRBY', cohorts, hour .. '|' .. metric .. s, 1)
      end
      redis.call('HINCRBY', totals, metric .. '|' .. identity .. '|' .. campaign, 1)
      if burst_kind ~= '' then
        local pair = identity .. '|' .. group .. '|'
        redis.call('HINCRBY', deferrals, pair .. 'o', 1)
        if burst_kind == 'd' then redis.call('HINCRBY', deferrals, pair .. 'd', 1) end
        redis.call('EXPIRE', deferrals, deferral_ttl)
      end
      suppress(supp_key, address, supp_json)
    elseif not fresh then
      dups = dups + 1
    end
    if settles == '1' then redis.call('ZREM', pending, msgid) end
    redis.call('EXPIRE', message, msg_ttl)
  end
end
return {counted, dups, early, supp, refused}
