-- grant.lua: atomically grant up to `want` sends to one (campaign, identity) at time `now`.
-- Checks together: campaign running, identity rolling 60 min and daily cap, even spacing inside
-- the hour, the pool's rolling hour and day (its identities' together, every campaign's sends), the
-- Tencent account rate, the recipient-domain share.
-- Picks recipients: due retries first, then due held ones, then the shuffled queue; when the queue
-- is empty and no other group is blocked, the last held group's share holds nothing back.
-- Each grant's arq job is written here too, in the format workers/jobs.py defines and passes in
-- (function name, job ids): grant and job appear together or not at all.
-- Every key it touches is in KEYS. The recipients it may pick are peeked by the caller
-- (store/limiter.py), which declares their keys (ARGV 22): when the next recipient to pick, or the
-- held list of its domain group, is not declared, the call stops with reason `more` (what it
-- granted stands) and the caller calls again with a fresh peek.
-- KEYS: 1 campaign meta, 2 queue, 3 later, 4 held groups, 5 counts, 6 inflight, 7 id hour, 8 id day,
--       9 id gcra, 10 account gcra, 11 arq queue, 12 identity's sends on Tencent's (China-time) day,
--       13 the campaign's hour summary of the day, 14 the identity's domain share (zset group -> tat),
--       15 the campaign's blocked domain groups (zset group -> until), 16 the identity's provider
--       groups' own-cap tat (zset group -> tat), 17 the identity's sends per provider group on the
--       local date (hash group -> sends), 18 the pacer leader lock (a fence: read only when ARGV 24
--       names a token), 19.. the domain share zsets of the campaign's other identities (ARGV 25 of
--       them), then those identities' rolling-hour zsets, then their counters of the local date (as
--       many each: the pool's hour and day are its identities' together), then the candidates' keys:
--       state buckets, record buckets, arq job keys, held lists
-- ARGV: 1 now, 2 want, 3 id hourly, 4 id daily, 5 pool hourly, 6 pool daily, 7 account interval s,
--       8 account burst, 9 catch-up s, 10 day ttl s, 11 campaign id, 12 identity, 13 domain share
--       (0 = off), 14 grant deadline s, 15 seconds to next local midnight, 16 job function name,
--       17 local hour, 18 arq score (wall-clock ms), 19 arq job expiry ms, 20 Tencent daily quota
--       (0 = none known), 21 seconds until Tencent's day turns, 22 per-domain shaping ('' = off) as
--       JSON {group: [hourly, daily, held until]} (store/group_state.py; named for the declared groups
--       only, as only they are admitted; a group not named has only the identity's caps; hourly 0:
--       held until the third number), 23 the candidates as JSON:
--       {"c": {idx: [state key n, record key n, job key n, grant seq, job id]}, "h": {group: held list key n}}
--       (n: a position in KEYS; the grant seqs, strings, reserved by the caller: unique, not dense),
--       24 the leader lock token the caller holds ('' = no fence): another token there grants nothing,
--       25 how many other identities follow KEYS 18 (each: domain share, hour, day count), 26 what
--       the other running campaigns on this identity have waiting ('' = none; store/limiter.py reads
--       it): {"q": a queue of theirs holds mail, "g": domain groups they hold back}
-- Returns: {reason, wait_s, idx1, grant1, idx2, grant2, ...}; reason `more` or `more|<group>` (its
--          held list was not declared): call again; `not_leader`: the fence token is not the lock's
local GROUPS = __GROUPS__

local now = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local id_hourly = tonumber(ARGV[3])
local id_daily = tonumber(ARGV[4])
local pool_hourly = tonumber(ARGV[5])
local pool_daily = tonumber(ARGV[6])
local acct_interval = tonumber(ARGV[7])
local acct_burst = tonumber(ARGV[8])
local catchup = tonumber(ARGV[9])
local day_ttl = tonumber(ARGV[10])
local cid = ARGV[11]
local identity = ARGV[12]
local share = tonumber(ARGV[13])
local grant_deadline = tonumber(ARGV[14])
local to_midnight = tonumber(ARGV[15])
local job_function = ARGV[16]
local local_hour = ARGV[17]
local arq_score = ARGV[18]
local arq_expires = ARGV[19]
local quota = tonumber(ARGV[20])
local to_quota_day = tonumber(ARGV[21])
local shaping = ARGV[22] ~= ''
local gcaps = shaping and cjson.decode(ARGV[22]) or {}
local declared = cjson.decode(ARGV[23])
local cands, held_keys = declared.c, declared.h
local hours_key, dom_key, blocks_key = KEYS[13], KEYS[14], KEYS[15]
local npeers = tonumber(ARGV[25] or '0')
local rivals = (ARGV[26] or '') ~= '' and cjson.decode(ARGV[26]) or {q = false, g = {}}
-- Due held groups one pick looks at (store/grant_peek.py HELD_GROUPS declares as many).
local HELD_SCAN = 16
local gtat_key, gday_key = KEYS[16], KEYS[17]

-- A pacer whose lock lapsed mid-tick (a standby took over) grants nothing more: one leader's grants at a time.
if ARGV[24] ~= '' and redis.call('GET', KEYS[18]) ~= ARGV[24] then
  return {'not_leader', '-1'}
end

-- Every candidate's ledger and record bucket checked before the first write: one holding another type
-- (damaged) fails the call here with nothing granted and no recipient taken off its list, never part
-- way (a recipient popped and lost, or granted with the day's counters unwritten).
local checked = {}
for _, c in pairs(cands) do
  for _, n in ipairs({c[1], c[2]}) do
    if not checked[n] then
      checked[n] = true
      local kind = redis.call('TYPE', KEYS[n])['ok']
      if kind ~= 'none' and kind ~= 'hash' then
        return redis.error_reply('WRONGTYPE a recipient bucket holds another type: ' .. KEYS[n])
      end
    end
  end
end

if redis.call('HGET', KEYS[1], 'state') ~= __CAMPAIGN_RUNNING__ then
  return {'not_running', '-1'}
end
if id_hourly <= 0 or id_daily <= 0 or pool_hourly <= 0 or pool_daily <= 0 then
  return {'no_budget', tostring(to_midnight)}
end

-- The window is (now - 3600, now]: a grant exactly 3600 s old has left it. The bound is passed as
-- a number (Redis writes it with full precision); Lua's `..` would keep only 14 significant digits.
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - 3600)
for i = 1, npeers do redis.call('ZREMRANGEBYSCORE', KEYS[18 + npeers + i], '-inf', now - 3600) end
-- Past blocks and shares no longer hold anything back: an absent entry reads the same.
redis.call('ZREMRANGEBYSCORE', blocks_key, '-inf', now)
redis.call('ZREMRANGEBYSCORE', dom_key, '-inf', now - catchup)
redis.call('ZREMRANGEBYSCORE', gtat_key, '-inf', now - math.max(catchup, 3600.0 / id_hourly))

local id_count = redis.call('ZCARD', KEYS[7])
local id_day = tonumber(redis.call('GET', KEYS[8]) or '0')
-- The pool is the campaign's identities together, whichever campaign's grants they sent: its rolling
-- hour and its day are the sums of theirs (a campaign's own counts would start from nothing on a day
-- another campaign had already spent the pool's ceiling through the same identities).
local pool_count, pool_day = id_count, id_day
for i = 1, npeers do
  pool_count = pool_count + redis.call('ZCARD', KEYS[18 + npeers + i])
  pool_day = pool_day + tonumber(redis.call('GET', KEYS[18 + 2 * npeers + i]) or '0')
end
local quota_day = tonumber(redis.call('GET', KEYS[12]) or '0')
local interval = 3600.0 / id_hourly
local tat = tonumber(redis.call('HGET', KEYS[9], 'tat') or '0')
local acct_tat = tonumber(redis.call('HGET', KEYS[10], 'tat') or '0')

-- When the oldest grant of the hour zset KEYS[key] leaves the window; nil when it holds none.
local function oldest_leaves(key)
  local first = redis.call('ZRANGE', KEYS[key], 0, 0, 'WITHSCORES')
  return first[2] and tonumber(first[2]) + 3600 - now
end

local function oldest_wait(key)
  return oldest_leaves(key) or 1
end

-- Until the pool's oldest grant of the hour, of any of its identities, leaves the window (an identity
-- with no grant in the hour has none to wait for; 1 s if none has, which the pool's count rules out).
local function pool_wait()
  local wait = oldest_leaves(7)
  for i = 1, npeers do
    local w = oldest_leaves(18 + npeers + i)
    if w and (not wait or w < wait) then wait = w end
  end
  return wait or 1
end

-- The held list of `group`, or nil when the caller did not declare it.
local function held_key(group)
  local n = held_keys[group]
  return n and KEYS[n]
end

local group_of = {}  -- idx -> its domain group, read once per call
local function record_domain(idx)
  if group_of[idx] then return group_of[idx] end
  local rec = redis.call('HGET', KEYS[cands[idx][2]], idx)
  local g = ''
  if rec then
    local addr = string.match(rec, '^([^\030\031]*)')
    local d = string.lower(string.match(addr, '@(.*)$') or '')
    g = (string.sub(d, 1, 6) == 'yahoo.') and 'yahoo' or (GROUPS[d] or d)
  end
  group_of[idx] = g
  return g
end

-- Recipients held back by the domain share wait in one list per domain group (`held:<group>`);
-- KEYS[4] scores each group with the time its share frees up. Holding and releasing are O(1) per
-- recipient, so a busy domain's backlog is never re-examined recipient by recipient.
-- A group's score is the first time any identity of the campaign may take from it: holding keeps
-- the earlier of the two (another identity may be free sooner than this one).
local function hold(idx, group, at, front)
  redis.call(front and 'LPUSH' or 'RPUSH', held_key(group), idx)
  local cur = redis.call('ZSCORE', KEYS[4], group)
  if not cur or at < tonumber(cur) then redis.call('ZADD', KEYS[4], at, group) end
end

-- The share is of each identity's hour: the first time an identity of the campaign may take one
-- more of `group`, given `mine`, this identity's own time: the other identities (KEYS 19..18+npeers)
-- are known by their domain share timers (an absent timer is free now; their own caps are theirs to
-- check when they look). With no other identity, exactly `mine`.
local function first_free_at(group, mine)
  local t = mine
  for i = 1, npeers do
    local p = tonumber(redis.call('ZSCORE', KEYS[18 + i], group) or '0')
    if p < t then t = p end
  end
  return t
end

-- May recipient `idx` of `group` go now? If not, park it: in `later` while its domain is blocked,
-- held while its domain has used its share of the identity's hour and other mail is waiting.
-- When may `group` take one more under its own caps (per-domain shaping)? nil: now, with the tat
-- its next send would leave.
local function own_cap_wait(group)
  local gc = gcaps[group]
  if not gc then return nil, nil end
  if gc[1] <= 0 then return math.max(gc[3], now + 1), nil end
  if tonumber(redis.call('HGET', gday_key, group) or '0') >= gc[2] then return now + to_midnight, nil end
  local gtat = tonumber(redis.call('ZSCORE', gtat_key, group) or '0')
  if gtat > now then return gtat, nil end
  -- Evenly spaced at its own rate; one identity slot of slack, so a send that had to wait for the
  -- identity's next slot does not cost the group its rate.
  return nil, math.max(gtat, now - math.max(catchup, interval)) + 3600.0 / gc[1]
end

-- Does other mail wait, so the domain share holds `group` back? The shuffled queue, or another group
-- blocked now: its recipients wait out the block in `later`. (A retry waiting there does not count: its
-- group is not read, and the group's own retries would stop it.) Or another running campaign's mail on
-- this identity: its queue, or a group it holds back (the share is of the identity's hour).
local function other_mail_waits(group)
  if redis.call('LLEN', KEYS[2]) > 0 or rivals.q then return true end
  for _, g in ipairs(rivals.g) do
    if g ~= group then return true end
  end
  for _, g in ipairs(redis.call('ZRANGEBYSCORE', blocks_key, '(' .. now, '+inf', 'LIMIT', 0, 2)) do
    if g ~= group then return true end
  end
  return false
end

local function admit(idx, group, from_held)
  local blocked = tonumber(redis.call('ZSCORE', blocks_key, group) or '0')
  if blocked > now then
    redis.call('ZADD', KEYS[3], blocked, idx)
    return false
  end
  -- A group over its own caps, or backing off after a block, waits whether or not others do.
  local own_wait, own_tat = own_cap_wait(group)
  if own_wait then
    hold(idx, group, first_free_at(group, own_wait), from_held)
    return false
  end
  if share > 0 then
    local dint = 3600.0 / math.max(share * id_hourly, 1e-9)
    local dtat = tonumber(redis.call('ZSCORE', dom_key, group) or '0')
    if dtat > now and other_mail_waits(group) then
      hold(idx, group, first_free_at(group, dtat), from_held)
      return false
    end
    -- At most one share slot ahead: a group that sent alone (no other mail waiting) is not held for
    -- all the slots it ran ahead once other mail waits again.
    dtat = math.min(math.max(dtat, now - catchup) + dint, now + dint)
    redis.call('ZADD', dom_key, dtat, group)
    redis.call('EXPIRE', dom_key, 7200)
    if from_held and redis.call('LLEN', held_key(group)) > 0 then
      -- The rest of the group waits for the next turn of this identity or another.
      redis.call('ZADD', KEYS[4], first_free_at(group, dtat), group)
    end
  end
  if own_tat then
    redis.call('ZADD', gtat_key, own_tat, group)
    redis.call('EXPIRE', gtat_key, 7200)
  end
  return true
end

local missing = nil  -- the domain group whose held list was not declared, when a call stops for it

-- Is `idx` (of `group`, when known) declared, with the held list its group may need?
local function usable(idx, group)
  if not cands[idx] then return false end
  group = group or ((share > 0 or shaping) and record_domain(idx))
  if group and not held_key(group) then missing = group; return false end
  return true
end

-- The first recipient held for `group` if it is usable (nil, true otherwise), dropping the group
-- once its list is empty.
local function unhold(group)
  local key = held_key(group)
  if not key then missing = group; return nil, true end
  local idx = redis.call('LINDEX', key, 0)
  if idx and not usable(idx, group) then return nil, true end
  redis.call('LPOP', key)
  if redis.call('LLEN', key) == 0 then redis.call('ZREM', KEYS[4], group) end
  return idx, false
end

-- An entry whose recipient is no longer queued is a copy (a retried write of the queue whose first
-- reply was lost; a retry's entry met after another copy sent it): it is dropped, never granted.
local function still_queued(idx)
  local e = ledger_parse(redis.call('HGET', KEYS[cands[idx][1]], idx))
  return e == nil or e.state == 'queued'  -- an unreadable row is granted and rewritten, as before
end

local cannot = {}  -- due held groups this identity may not take from now (for the rest of the call)
local skip_wait = nil  -- the first time this identity may take from one of them
local scan_full = false  -- more due held groups than one pick looks at, none of them takeable

-- When this identity may take a held recipient of `group`: its own caps, then its domain share.
local function can_take_at(group)
  local t = own_cap_wait(group) or now
  if share > 0 then t = math.max(t, tonumber(redis.call('ZSCORE', dom_key, group) or '0')) end
  return t
end

-- The first due held group this identity may take from now (nil: none; nil, true: undeclared).
local function due_group()
  -- A full look whose groups were all scored later is looked at again: the next ones may go.
  for _ = 1, 4 do
    local due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, HELD_SCAN)
    local fresh = false
    for _, g in ipairs(due) do
      if not cannot[g] then
        if not held_key(g) then missing = g; return nil, true end
        local at = can_take_at(g)
        if at <= now then return g, false end
        cannot[g], fresh = true, true
        if not skip_wait or at < skip_wait then skip_wait = at end
        -- Scored again with what is known now (with no other identity: exactly when this one may),
        -- so groups no identity may take yet do not stay due and crowd out the ones that may go.
        redis.call('ZADD', KEYS[4], first_free_at(g, at), g)
      end
    end
    scan_full = #due >= HELD_SCAN
    if not scan_full or not fresh then break end
  end
  return nil, false
end

-- Take the next recipient that may go now: due retries, then held groups whose share has freed
-- up for this identity, then the shuffled queue. Returns idx, or nil and whether the caller must
-- call again (the next recipient was not declared).
local function next_recipient()
  for _ = 1, 256 do
    local idx, group, from_held = nil, nil, false
    local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1)
    if due[1] then
      idx = due[1]
      if not usable(idx) then return nil, true end
      redis.call('ZREM', KEYS[3], idx)
    else
      local g, undeclared = due_group()
      if undeclared then return nil, true end
      if g then
        local more
        group, from_held = g, true
        idx, more = unhold(group)
        if more then return nil, true end
      else
        idx = redis.call('LINDEX', KEYS[2], 0)
        if not idx then break end
        if not usable(idx) then return nil, true end
        redis.call('LPOP', KEYS[2])
      end
    end
    if idx and still_queued(idx) then
      group = group or record_domain(idx)
      if admit(idx, group, from_held) then return idx, false end
    end
  end
  -- Only one held group is left: no other domain waits, so the share holds nothing back. While
  -- two or more wait, each keeps to its share (no domain takes the hour while others wait), and so
  -- while another group is blocked (its recipients wait out the block in `later`: the share was
  -- dropped then, and one provider took 86 % of an hour).
  local g = redis.call('ZCARD', KEYS[4]) == 1 and redis.call('ZRANGE', KEYS[4], 0, 0)[1]
  if g and not other_mail_waits(g) then
    for _ = 1, 256 do
      if not g then break end
      local idx, more = unhold(g)
      if more then return nil, true end
      if not idx then break end
      if still_queued(idx) then  -- a copy is dropped and the next one looked at
        if admit(idx, g, true) then return idx, false end
        break  -- held again: at the front
      end
    end
  end
  return nil, false
end

local function backlog_wait()
  local w = -1
  local function consider(t)
    local d = math.max(t - now, 0.001)
    if w < 0 or d < w then w = d end
  end
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  if first[2] then consider(tonumber(first[2])) end
  -- Held groups: the first not due yet, and the due ones this identity could not take (when it can).
  first = redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. ARGV[1], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if first[2] then consider(tonumber(first[2])) end
  if skip_wait then consider(skip_wait) end
  if scan_full then consider(now + 1) end  -- due groups past the ones looked at: look again soon
  if redis.call('LLEN', KEYS[2]) > 0 then w = 0.001 end
  return w
end

local out = {}
local granted = 0
local reason = 'want_met'
local wait = 0
while granted < want do
  if id_count >= id_hourly then reason = 'identity_hour'; wait = oldest_wait(7); break end
  if id_day >= id_daily then reason = 'identity_day'; wait = to_midnight; break end
  if pool_count >= pool_hourly then reason = 'pool_hour'; wait = pool_wait(); break end
  if pool_day >= pool_daily then reason = 'pool_day'; wait = to_midnight; break end
  if quota > 0 and quota_day >= quota then reason = 'tencent_quota'; wait = to_quota_day; break end
  if tat > now then reason = 'spacing'; wait = tat - now; break end
  if acct_tat - now > (acct_burst - 1) * acct_interval then
    reason = 'account_rate'; wait = acct_tat - now - (acct_burst - 1) * acct_interval; break
  end
  local idx, more = next_recipient()
  if more then reason = missing and ('more|' .. missing) or 'more'; wait = 0; break end
  if not idx then reason = 'no_backlog'; wait = backlog_wait(); break end
  local cand = cands[idx]
  local skey, seq, job_id = KEYS[cand[1]], cand[4], cand[5]
  local grant = identity .. ':' .. seq
  local member = cid .. ':' .. idx .. ':' .. seq
  local prev = ledger_parse(redis.call('HGET', skey, idx))
  local attempts = (prev and prev.state == 'queued') and prev.attempts or '0'
  -- ARGV[1], not `now`: concatenating a Lua number keeps 14 digits (a grant 30 us before midnight
  -- would read back as midnight, and its refund would go to the wrong day).
  redis.call('HSET', skey, idx, ledger_format('granted', {grant = grant, attempts = attempts, grant_time = ARGV[1]}))
  redis.call('ZADD', KEYS[6], now + grant_deadline, idx)
  redis.call('HINCRBY', KEYS[5], 'queued', -1)
  redis.call('HINCRBY', KEYS[5], 'granted', 1)
  redis.call('ZADD', KEYS[7], now, member)
  id_count = id_count + 1
  pool_count = pool_count + 1
  id_day = id_day + 1
  pool_day = pool_day + 1
  quota_day = quota_day + 1
  tat = math.max(tat, now - catchup) + interval
  acct_tat = math.max(acct_tat, now) + acct_interval
  granted = granted + 1
  table.insert(out, idx)
  table.insert(out, grant)
  if shaping then redis.call('HINCRBY', gday_key, record_domain(idx), 1) end
  local job = cjson.encode({t = cjson.null, f = job_function, a = {cid, tonumber(idx), grant}, k = {},
                            et = tonumber(arq_score)})
  redis.call('PSETEX', KEYS[cand[3]], arq_expires, job)
  redis.call('ZADD', KEYS[11], arq_score, job_id)
end

if granted > 0 then
  redis.call('INCRBY', KEYS[8], granted)
  redis.call('EXPIRE', KEYS[8], day_ttl)
  redis.call('INCRBY', KEYS[12], granted)
  redis.call('EXPIRE', KEYS[12], day_ttl)
  if shaping then redis.call('EXPIRE', gday_key, day_ttl) end
  redis.call('HSET', KEYS[9], 'tat', tat, 'interval', interval)
  redis.call('HSET', KEYS[10], 'tat', acct_tat, 'interval', acct_interval)
  redis.call('HINCRBY', hours_key, identity .. '|' .. local_hour, granted)
  redis.call('EXPIRE', hours_key, day_ttl)
  redis.call('EXPIRE', KEYS[7], 7200)
end
local result = {reason, tostring(wait)}
for _, v in ipairs(out) do table.insert(result, v) end
return result
