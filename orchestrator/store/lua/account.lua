-- account.lua: reserve the next call slot of one timeline of a Tencent account's API budget.
-- Slots of a timeline are `gap` seconds apart, across every process and host that shares this
-- Redis (orchestrator/core/account_rate.py explains the rule). A slot that would be more than
-- `max_wait` seconds away is not reserved: the caller gives up without calling.
-- KEYS: 1 the account's budget hash (field per timeline: the time of its next free slot)
-- ARGV: 1 now, 2 timeline (send | other), 3 gap s, 4 max wait s
-- Returns: {'ok', wait s} | {'busy', wait s}
local budget = KEYS[1]
local now = tonumber(ARGV[1])
local timeline = ARGV[2]
local gap = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])

local next_free = tonumber(redis.call('HGET', budget, timeline) or '0')
-- A slot that was not used in its moment is gone: after an outage nothing goes out in a burst.
local slot = math.max(now, next_free)
local wait = slot - now
if wait > max_wait then
  return {'busy', tostring(wait)}
end
-- Passed as a number, not built with `..`: Redis writes it with full precision, `..` keeps 14 digits.
redis.call('HSET', budget, timeline, slot + gap)
redis.call('EXPIRE', budget, 3600)
return {'ok', tostring(wait)}
