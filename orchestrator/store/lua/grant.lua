-- grant.lua: atomically grant up to `want` sends to one (campaign, identity) at time `now`.
-- Checks together: campaign running, identity rolling 60 min and daily cap, even spacing inside
-- the hour, the pool's rolling hour and day, the Tencent account rate, the recipient-domain share.
-- Picks recipients: due retries first, then due held ones, then the shuffled queue; when the queue
-- is empty the domain share no longer holds anything back (no other domain is waiting).
-- Each grant's arq job is written here too, in the format workers/jobs.py defines and passes in
-- (function name, job id and job key prefixes): grant and job appear together or not at all.
-- KEYS: 1 campaign meta, 2 queue, 3 later, 4 held groups, 5 counts, 6 inflight, 7 id hour, 8 id day,
--       9 id gcra, 10 pool hour, 11 pool day, 12 account gcra, 13 grant seq, 14 arq queue,
--       15 identity's sends on Tencent's (China-time) day, 16 the campaign's hour summary of the day
-- Keys built here from a prefix, because which recipients a call picks is decided inside it: the
-- state and record buckets of the picked recipients, their domain group's share, block and held
-- list, and the granted sends' arq job keys (docs/operations.md, "Redis topologies").
-- ARGV: 1 now, 2 want, 3 id hourly, 4 id daily, 5 pool hourly, 6 pool daily, 7 account interval s,
--       8 account burst, 9 catch-up s, 10 day ttl s, 11 campaign id, 12 identity, 13 state prefix,
--       14 record prefix, 15 domain share (0 = off), 16 domain prefix, 17 grant deadline s,
--       18 block prefix, 19 bucket size, 20 seconds to next local midnight, 21 job function name,
--       22 local hour, 23 arq score (wall-clock ms), 24 arq job expiry ms, 25 Tencent daily quota
--       (0 = none known), 26 seconds until Tencent's day turns, 27 held-list prefix,
--       28 arq job key prefix, 29 send job id prefix
-- Returns: {reason, wait_s, idx1, grant1, idx2, grant2, ...}
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
local state_prefix = ARGV[13]
local rec_prefix = ARGV[14]
local share = tonumber(ARGV[15])
local dom_prefix = ARGV[16]
local grant_deadline = tonumber(ARGV[17])
local block_prefix = ARGV[18]
local bucket = tonumber(ARGV[19])
local to_midnight = tonumber(ARGV[20])
local hours_key = KEYS[16]
local job_function = ARGV[21]
local local_hour = ARGV[22]
local arq_score = ARGV[23]
local arq_expires = ARGV[24]
local quota = tonumber(ARGV[25])
local to_quota_day = tonumber(ARGV[26])
local held_prefix = ARGV[27]
local job_key_prefix = ARGV[28]
local job_id_prefix = ARGV[29]

if redis.call('HGET', KEYS[1], 'state') ~= __CAMPAIGN_RUNNING__ then
  return {'not_running', '-1'}
end
if id_hourly <= 0 or id_daily <= 0 or pool_hourly <= 0 or pool_daily <= 0 then
  return {'no_budget', tostring(to_midnight)}
end

-- The window is (now - 3600, now]: a grant exactly 3600 s old has left it. The bound is passed as
-- a number (Redis writes it with full precision); Lua's `..` would keep only 14 significant digits.
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - 3600)
redis.call('ZREMRANGEBYSCORE', KEYS[10], '-inf', now - 3600)

local id_count = redis.call('ZCARD', KEYS[7])
local pool_count = redis.call('ZCARD', KEYS[10])
local id_day = tonumber(redis.call('GET', KEYS[8]) or '0')
local pool_day = tonumber(redis.call('GET', KEYS[11]) or '0')
local quota_day = tonumber(redis.call('GET', KEYS[15]) or '0')
local interval = 3600.0 / id_hourly
local tat = tonumber(redis.call('HGET', KEYS[9], 'tat') or '0')
local acct_tat = tonumber(redis.call('HGET', KEYS[12], 'tat') or '0')

local function oldest_wait(key)
  local first = redis.call('ZRANGE', KEYS[key], 0, 0, 'WITHSCORES')
  if first[2] then return tonumber(first[2]) + 3600 - now end
  return 1
end

local function record_domain(idx)
  local b = math.floor(tonumber(idx) / bucket)
  local rec = redis.call('HGET', rec_prefix .. b, idx)
  if not rec then return '' end
  local addr = string.match(rec, '^([^\030\031]*)')
  local d = string.lower(string.match(addr, '@(.*)$') or '')
  if string.sub(d, 1, 6) == 'yahoo.' then return 'yahoo' end
  return GROUPS[d] or d
end

-- Recipients held back by the domain share wait in one list per domain group (`held:<group>`);
-- KEYS[4] scores each group with the time its share frees up. Holding and releasing are O(1) per
-- recipient, so a busy domain's backlog is never re-examined recipient by recipient.
local function hold(idx, group, at, front)
  redis.call(front and 'LPUSH' or 'RPUSH', held_prefix .. group, idx)
  redis.call('ZADD', KEYS[4], at, group)
end

-- May recipient `idx` of `group` go now? If not, park it: in `later` while its domain is blocked,
-- held while its domain has used its share of the identity's hour and other mail is waiting.
local function admit(idx, group, from_held)
  local blocked = tonumber(redis.call('GET', block_prefix .. group) or '0')
  if blocked > now then
    redis.call('ZADD', KEYS[3], blocked, idx)
    return false
  end
  if share > 0 then
    local dkey = dom_prefix .. group
    local dint = 3600.0 / math.max(share * id_hourly, 1e-9)
    local dtat = tonumber(redis.call('HGET', dkey, 'tat') or '0')
    if dtat > now and redis.call('LLEN', KEYS[2]) > 0 then
      hold(idx, group, dtat, from_held)
      return false
    end
    dtat = math.max(dtat, now - catchup) + dint
    redis.call('HSET', dkey, 'tat', dtat)
    redis.call('EXPIRE', dkey, 7200)
    if from_held and redis.call('LLEN', held_prefix .. group) > 0 then
      redis.call('ZADD', KEYS[4], dtat, group)  -- the rest of the group waits for its next turn
    end
  end
  return true
end

-- The first recipient held for `group`, dropping the group once its list is empty.
local function unhold(group)
  local idx = redis.call('LPOP', held_prefix .. group)
  if redis.call('LLEN', held_prefix .. group) == 0 then redis.call('ZREM', KEYS[4], group) end
  return idx
end

-- Take the next recipient that may go now, or nil: due retries, then held groups whose share
-- has freed up, then the shuffled queue.
local function next_recipient()
  for _ = 1, 256 do
    local idx, group, from_held = nil, nil, false
    local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1)
    if due[1] then
      idx = due[1]
      redis.call('ZREM', KEYS[3], idx)
    else
      local g = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 1)
      if g[1] then
        group, from_held = g[1], true
        idx = unhold(group)
      else
        idx = redis.call('LPOP', KEYS[2])
        if not idx then break end
      end
    end
    if idx then
      group = group or record_domain(idx)
      if admit(idx, group, from_held) then return idx end
    end
  end
  -- Only held recipients are left: no other domain waits, so the share holds nothing back.
  if redis.call('LLEN', KEYS[2]) == 0 then
    local g = redis.call('ZRANGE', KEYS[4], 0, 0)
    if g[1] then
      local idx = unhold(g[1])
      if idx and admit(idx, g[1], false) then return idx end
    end
  end
  return nil
end

local function backlog_wait()
  local w = -1
  for _, k in ipairs({3, 4}) do
    local first = redis.call('ZRANGE', KEYS[k], 0, 0, 'WITHSCORES')
    if first[2] then
      local d = math.max(tonumber(first[2]) - now, 0.001)
      if w < 0 or d < w then w = d end
    end
  end
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
  if pool_count >= pool_hourly then reason = 'pool_hour'; wait = oldest_wait(10); break end
  if pool_day >= pool_daily then reason = 'pool_day'; wait = to_midnight; break end
  if quota > 0 and quota_day >= quota then reason = 'tencent_quota'; wait = to_quota_day; break end
  if tat > now then reason = 'spacing'; wait = tat - now; break end
  if acct_tat - now > (acct_burst - 1) * acct_interval then
    reason = 'account_rate'; wait = acct_tat - now - (acct_burst - 1) * acct_interval; break
  end
  local idx = next_recipient()
  if not idx then reason = 'no_backlog'; wait = backlog_wait(); break end
  local seq = redis.call('INCR', KEYS[13])
  local grant = identity .. ':' .. seq
  local member = cid .. ':' .. idx .. ':' .. seq
  local b = math.floor(tonumber(idx) / bucket)
  local skey = state_prefix .. b
  local prev = ledger_parse(redis.call('HGET', skey, idx))
  local attempts = (prev and prev.state == 'queued') and prev.attempts or '0'
  -- ARGV[1], not `now`: concatenating a Lua number keeps 14 digits (a grant 30 us before midnight
  -- would read back as midnight, and its refund would go to the wrong day).
  redis.call('HSET', skey, idx, ledger_format('granted', {grant = grant, attempts = attempts, grant_time = ARGV[1]}))
  redis.call('ZADD', KEYS[6], now + grant_deadline, idx)
  redis.call('HINCRBY', KEYS[5], 'queued', -1)
  redis.call('HINCRBY', KEYS[5], 'granted', 1)
  redis.call('ZADD', KEYS[7], now, member)
  redis.call('ZADD', KEYS[10], now, member)
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
  local job_id = job_id_prefix .. cid .. ':' .. idx .. ':' .. grant
  local job = cjson.encode({t = cjson.null, f = job_function, a = {cid, tonumber(idx), grant}, k = {},
                            et = tonumber(arq_score)})
  redis.call('PSETEX', job_key_prefix .. job_id, arq_expires, job)
  redis.call('ZADD', KEYS[14], arq_score, job_id)
end

if granted > 0 then
  redis.call('INCRBY', KEYS[8], granted)
  redis.call('EXPIRE', KEYS[8], day_ttl)
  redis.call('INCRBY', KEYS[11], granted)
  redis.call('EXPIRE', KEYS[11], day_ttl)
  redis.call('INCRBY', KEYS[15], granted)
  redis.call('EXPIRE', KEYS[15], day_ttl)
  redis.call('HSET', KEYS[9], 'tat', tat, 'interval', interval)
  redis.call('HSET', KEYS[12], 'tat', acct_tat, 'interval', acct_interval)
  redis.call('HINCRBY', hours_key, identity .. '|' .. local_hour, granted)
  redis.call('EXPIRE', hours_key, day_ttl)
  redis.call('EXPIRE', KEYS[7], 7200)
  redis.call('EXPIRE', KEYS[10], 7200)
end
local result = {reason, tostring(wait)}
for _, v in ipairs(out) do table.insert(result, v) end
return result
