-- finish.lua: record the outcome of a claimed (or in-doubt) send, if the caller still holds it.
-- KEYS: 1 state bucket, 2 counts, 3 inflight, 4 later, 5 queue, 6 campaign meta, 7 id hour,
--       8 id day, 9 id gcra, 10 message ids, 11 events, 12 doubt, 13 identity's sends on the grant's
--       Tencent day; for an accepted send (store/feedback.py): 14 record bucket, 15 the message's
--       feedback hash, 16 cohorts hash, 17 feedback totals, 18 pending zset, 19 the message's
--       early-events list; 20 the recipient's history bucket; 21 the identity's provider-group
--       sends on the grant's local date (per-domain shaping)
-- ARGV: 1 idx, 2 token, 3 now, 4 action, 5 value, 6 ready at, 7 refund (0/1), 8 campaign id,
--       9 grant member, 10 detail, 11 event maxlen, 12 identity, 13 the message's feedback TTL s,
--       14 outcomes kept per recipient, 15 when the provider received an accepted send (now, or
--       earlier for a doubt settled by a lookup), 16 '1' when a status lookup found the accepted
--       MessageId (the history says __RECONCILED_SENT__ then, not __ACCEPTED_LATE__)
-- action: accepted (value = MessageId) | retry (later at ready_at) | postpone (later at ready_at,
--         attempt not counted) | requeue (front of queue, attempt not counted) | failed (value = code) | suppressed (value = reason) |
--         in_doubt | pause (requeue + the campaign's automatic pause with reason `detail`)
-- Returns: {'ok', previous state, events waiting in the early list (accepted; else 0)} | {'stale', current state}
--          | {'damaged', key}: a key holds another type; nothing was written
local states, counts, inflight, later, queue, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id_hour, id_day, id_gcra = KEYS[7], KEYS[8], KEYS[9]
local message_ids, events, doubt, quota_day = KEYS[10], KEYS[11], KEYS[12], KEYS[13]
local rec_bucket, message, cohorts, totals, pending, early_list = KEYS[14], KEYS[15], KEYS[16], KEYS[17], KEYS[18], KEYS[19]
local GROUPS = __GROUPS__
local history, group_day = KEYS[20], KEYS[21]
local idx, token, now_text, action, value = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now = tonumber(now_text)
local cid, member, detail, maxlen, identity = ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local sent_text = ARGV[15] or now_text

-- The recipient's domain group, as orchestrator/core/domains.py names it (grant.lua reads it alike).
local function recipient_group()
  local rec = redis.call('HGET', rec_bucket, idx) or ''
  local addr = string.match(rec, '^([^\030\031]*)')
  local d = string.lower(string.match(addr, '@(.*)$') or '')
  if string.sub(d, 1, 6) == 'yahoo.' then return 'yahoo' end
  return GROUPS[d] or d
end

local st = redis.call('HGET', states, idx)
if not st then return {'stale', 'missing'} end
local e = ledger_parse(st)
if not e or (e.state ~= 'inflight' and e.state ~= 'in_doubt') or e.token ~= token then
  return {'stale', st}
end
local attempt = tonumber(e.attempt)
if e.state == 'in_doubt' and action == 'in_doubt' then return {'ok', e.state, 0} end

-- What this outcome writes before the outcome itself is recorded, checked first: a key holding
-- another type, or a counter holding no whole number (damaged), would stop the script half way with
-- its earlier writes kept (the recipient out of every set, counted nowhere). Stopped here, nothing is
-- written: the recipient stays in flight (its lease ends in doubt) or in doubt, and the caller pauses
-- the campaign. The MessageId map, the delivery feedback and the event stream are written after the
-- outcome: a damaged one of those loses only what it would have held.
local function whole(v) return not v or string.match(v, '^%-?%d+$') ~= nil end
local function damaged()
  local want = {[1] = 'hash', [2] = 'hash', [3] = 'zset', [12] = 'zset', [20] = 'hash'}
  if action == 'retry' or action == 'postpone' then want[4] = 'zset' end
  if action == 'requeue' or action == 'pause' then want[5] = 'list' end
  local refund = ARGV[7] == '1'
  if refund then
    want[7], want[8], want[9] = 'zset', 'string', 'hash'
    want[13], want[14], want[21] = 'string', 'hash', 'hash'
  end
  for i, kind in pairs(want) do
    local found = redis.call('TYPE', KEYS[i])['ok']
    if found ~= 'none' and found ~= kind then return KEYS[i] end
  end
  local all = redis.call('HGETALL', counts)
  for i = 2, #all, 2 do
    if not whole(all[i]) then return counts end
  end
  if not refund then return nil end
  for _, k in ipairs({id_day, quota_day}) do
    if not whole(redis.call('GET', k)) then return k end
  end
  for _, f in ipairs({'tat', 'interval'}) do
    local v = redis.call('HGET', id_gcra, f)
    if v and not tonumber(v) then return id_gcra end
  end
  if not whole(redis.call('HGET', group_day, recipient_group())) then return group_day end
  return nil
end
local bad = damaged()
if bad then return {'damaged', bad} end

redis.call('HINCRBY', counts, e.state, -1)
redis.call('ZREM', inflight, idx)
redis.call('ZREM', doubt, idx)

if ARGV[7] == '1' then
  -- The mail certainly did not leave: give its budget back.
  if redis.call('ZREM', id_hour, member) == 1 then
    redis.call('DECR', id_day)
    redis.call('DECR', quota_day)
    local tat = tonumber(redis.call('HGET', id_gcra, 'tat') or '0')
    local interval = tonumber(redis.call('HGET', id_gcra, 'interval') or '0')
    if tat > now then redis.call('HSET', id_gcra, 'tat', math.max(tat - interval, now)) end
    -- Its provider group's sends of the day too (counted at the grant once shaping applies): a
    -- group whose tries were all refused has sent nothing, and its day must neither advance on them
    -- nor run out of its own daily cap.
    local group = recipient_group()
    if tonumber(redis.call('HGET', group_day, group) or '0') > 0 then redis.call('HINCRBY', group_day, group, -1) end
  end
end

local function event(etype, extra)
  local args = {'XADD', events, 'MAXLEN', '~', maxlen, '*', 't', now_text, 'type', etype,
                'campaign', cid, 'identity', identity}
  for _, v in ipairs(extra) do table.insert(args, v) end
  redis.call(unpack(args))
end

-- The recipient's history (store/trace_index.py): kept only once more than a first clean accept happened.
local function remember()
  local past = redis.call('HGET', history, idx)
  if action == 'accepted' and e.state ~= 'in_doubt' and not past then return end
  local decision = action
  if e.state == 'in_doubt' and action == 'accepted' then
    decision = ARGV[16] == '1' and __RECONCILED_SENT__ or __ACCEPTED_LATE__
  elseif e.state == 'in_doubt' then
    decision = 'reconciled_' .. action
  end
  local item = table.concat({now_text, identity, decision, value ~= '' and value or detail, e.attempt,
                             e.since or ''}, '\31')
  if past then
    item = past .. '\30' .. item
    local n = select(2, string.gsub(item, '\30', '\30'))
    while n >= tonumber(ARGV[14]) do
      item = string.sub(item, string.find(item, '\30', 1, true) + 1)
      n = n - 1
    end
  end
  redis.call('HSET', history, idx, item)
end
remember()

-- The accepted send in the delivery feedback: counted once in its hour's cohort, noted for the follow-up.
local function count_send(msgid)
  local waiting = redis.call('LLEN', early_list)
  if redis.call('HSETNX', message, 'u:accepted', sent_text) == 0 then return waiting end
  redis.call('EXPIRE', message, ARGV[13])
  local group = recipient_group()
  local hour = tostring(math.floor(tonumber(sent_text) / 3600))
  for _, s in ipairs({'|i|' .. identity, '|c|' .. cid, '|g|' .. group}) do
    redis.call('HINCRBY', cohorts, hour .. '|accepted' .. s, 1)
  end
  redis.call('HINCRBY', totals, 'accepted|' .. identity .. '|' .. cid, 1)
  redis.call('ZADD', pending, sent_text, msgid)
  return waiting
end

-- The try counts towards max_attempts unless the action is one the core does not count
-- (orchestrator/core/decisions.py UNCOUNTED): the call never left, Tencent deferred it, it went back.
local tries = __UNCOUNTED__[action] and attempt - 1 or attempt

local function requeue(attempts)
  redis.call('HSET', states, idx, ledger_format('queued', {attempts = tostring(attempts)}))
  redis.call('HINCRBY', counts, 'queued', 1)
end

if action == 'accepted' then
  redis.call('HSET', states, idx, ledger_format('accepted', {message_id = value}))
  redis.call('HINCRBY', counts, 'accepted', 1)
  -- "campaign:index|identity|sent at" (store/feedback.py reads it, and the older "campaign:index").
  redis.call('HSET', message_ids, value, cid .. ':' .. idx .. '|' .. identity .. '|' .. sent_text)
  return {'ok', e.state, count_send(value)}
elseif action == 'retry' or action == 'postpone' then
  -- postpone: the call never left (no slot in the account's API budget) or Tencent deferred the mail
  -- (FrequencyLimit, TemporaryBlocked): it was never taken, so no try is counted.
  requeue(tries)
  redis.call('ZADD', later, tonumber(ARGV[6]), idx)
elseif action == 'requeue' or action == 'pause' then
  requeue(tries)
  redis.call('LPUSH', queue, idx)
  -- The campaign's automatic pause, by the one transition table (orchestrator/core/campaign_state.py):
  -- also over another author's pause (the operator paused while this send was in flight), or a plain
  -- resume would lift it unacknowledged.
  local st = redis.call('HGET', meta, 'state')
  local retake = __AUTO_PAUSE_RETAKES__ and st == __AUTO_PAUSE_TO__ and redis.call('HGET', meta, 'paused_by') ~= 'automatic'
  if action == 'pause' and (__AUTO_PAUSE_FROM__[st] or retake) then
    redis.call('HSET', meta, 'state', __AUTO_PAUSE_TO__, 'reason', detail, 'paused_by', 'automatic',
               'changed_at', now_text)
    event('campaign_paused', {'reason', detail, 'by', 'automatic', 'code', value})
  end
elseif action == 'failed' then
  redis.call('HSET', states, idx, ledger_format('failed', {code = value}))
  redis.call('HINCRBY', counts, 'failed', 1)
elseif action == 'suppressed' then
  redis.call('HSET', states, idx, ledger_format('suppressed', {reason = value}))
  redis.call('HINCRBY', counts, 'suppressed', 1)
elseif action == 'in_doubt' then
  redis.call('HSET', states, idx, ledger_format('in_doubt', {
    token = token, since = now_text, attempt = e.attempt, grant = e.grant, grant_time = e.grant_time}))
  redis.call('HINCRBY', counts, 'in_doubt', 1)
  redis.call('ZADD', doubt, tonumber(ARGV[6]), idx)
else
  return redis.error_reply('unknown action ' .. action)
end
return {'ok', e.state}
