-- account.lua: reserve the next call slot of one timeline of a Tencent account's API budget.
-- Slots of a timeline are `gap` seconds apart, across every process and host that shares this
-- Redis (orchestrator/core/account_rate.py explains the rule). A slot that would be more than
-- `max_wait` seconds away is not reserved: the caller gives up without calling. A call of the
-- `other` timeline (lookups, reads) takes the `send` timeline's next slot when that comes first:
-- the share reserved for it is a floor, never a ceiling.
-- KEYS: 1 the account's budget hash (per timeline the time of its next free slot; `last`: the
--       latest `now` seen; `run`: the run_id of the Redis server that last wrote it)
-- ARGV: 1 now ('' = Redis's own clock, so hosts' clocks never matter), 2 timeline (send | other),
--       3 gap s of that timeline, 4 gap s of the send timeline, 5 max wait s, 6 seconds of writes
--       a restart may lose (AOF everysec: about 2)
-- Returns: {'ok', wait s} | {'busy', wait s}
local budget = KEYS[1]
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local timeline = ARGV[2]
local gap = tonumber(ARGV[3])
local send_gap = tonumber(ARGV[4])
local max_wait = tonumber(ARGV[5])
local lost_s = tonumber(ARGV[6])

-- After a restart the hash may have lost its last reservations (up to `lost_s` of writes), whose
-- slots lay at most `max_wait` ahead and may still be used by the processes that hold them. No
-- new slot is given before the latest of those could be. The server's run_id tells a restarted
-- Redis (or a replica promoted after a failover) from a running one: it changes with every start,
-- whatever the AOF, an RDB snapshot or a replica's full sync carried over.
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or ''
local restarted = redis.call('HGET', budget, 'run') ~= run
if restarted then
  redis.call('HSET', budget, 'run', run)
  local last = tonumber(redis.call('HGET', budget, 'last') or '')
  if last then
    local floor = math.min(now, last + lost_s) + max_wait
    for _, t in ipairs({'send', 'other'}) do
      local free = tonumber(redis.call('HGET', budget, t) or '0')
      if free < floor then redis.call('HSET', budget, t, floor) end
    end
  end
end

local next_free = tonumber(redis.call('HGET', budget, timeline) or '0')
-- A slot that was not used in its moment is gone: after an outage nothing goes out in a burst.
local slot = math.max(now, next_free)
if timeline == 'other' and slot > now then
  -- Borrow the send timeline's next slot when it comes first (SendEmail idle or lightly used):
  -- the total stays within the rate, and a busy send queue keeps its slots booked ahead.
  local send_slot = math.max(now, tonumber(redis.call('HGET', budget, 'send') or '0'))
  if send_slot < slot then
    timeline, gap, slot = 'send', send_gap, send_slot
  end
end
local wait = slot - now
if wait > max_wait then
  return {'busy', tostring(wait)}
end
-- Passed as numbers, not built with `..`: Redis writes them with full precision, `..` keeps 14 digits.
redis.call('HSET', budget, timeline, slot + gap, 'last', now)
redis.call('EXPIRE', budget, 3600)
return {'ok', tostring(wait)}
