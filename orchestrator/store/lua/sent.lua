-- sent.lua: count an accepted send in its hour's cohort, once per message, and note it for the follow-up.
-- KEYS: 1 record bucket, 2 message hash, 3 cohorts hash, 4 totals, 5 pending zset, 6 early list
-- ARGV: 1 idx, 2 MessageId, 3 now, 4 identity, 5 campaign, 6 message TTL s
-- Returns: {1 when counted now (0: counted before), events waiting in the early list}
local rec_bucket, message, cohorts, totals, pending, early_list = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local idx, msgid, now, identity, campaign = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local GROUPS = __GROUPS__

local waiting = redis.call('LLEN', early_list)
if redis.call('HSETNX', message, 'u:accepted', now) == 0 then return {0, waiting} end
redis.call('EXPIRE', message, ARGV[6])

-- The recipient's domain group, as orchestrator/core/domains.py names it (grant.lua reads it alike).
local rec = redis.call('HGET', rec_bucket, idx) or ''
local addr = string.match(rec, '^([^\030\031]*)')
local d = string.lower(string.match(addr, '@(.*)$') or '')
local group = GROUPS[d] or d
if string.sub(d, 1, 6) == 'yahoo.' then group = 'yahoo' end

local hour = tostring(math.floor(tonumber(now) / 3600))
for _, s in ipairs({'|i|' .. identity, '|c|' .. campaign, '|g|' .. group}) do
  redis.call('HINCRBY', cohorts, hour .. '|accepted' .. s, 1)
end
redis.call('HINCRBY', totals, 'accepted|' .. identity .. '|' .. campaign, 1)
redis.call('ZADD', pending, now, msgid)
return {1, waiting}
