-- claim.lua: a worker takes a granted recipient under a lease (compare-and-swap on the grant id).
-- Also says whether the address is suppressed right now (blocklist, or unsubscribed from the sender).
-- KEYS: 1 state bucket, 2 counts, 3 inflight, 4 campaign meta, 5 record bucket, 6 blocklist,
--       7 the sender domain's unsubscribed set
-- ARGV: 1 idx, 2 grant id, 3 token, 4 now, 5 lease s
-- Returns: {'ok', attempt, campaign state, record, grant time, suppressed 0/1} | {'stale', current state}
local idx = ARGV[1]
local st = redis.call('HGET', KEYS[1], idx)
if not st then return {'stale', 'missing'} end
local grant, attempts, gt = string.match(st, '^g|([^|]+)|(%d+)|(.+)$')
if grant ~= ARGV[2] then return {'stale', st} end
local attempt = tonumber(attempts) + 1
local deadline = tonumber(ARGV[4]) + tonumber(ARGV[5])
redis.call('HSET', KEYS[1], idx,
  'c|' .. ARGV[3] .. '|' .. deadline .. '|' .. attempt .. '|' .. grant .. '|' .. gt)
redis.call('ZADD', KEYS[3], deadline, idx)
redis.call('HINCRBY', KEYS[2], 'granted', -1)
redis.call('HINCRBY', KEYS[2], 'inflight', 1)
local cstate = redis.call('HGET', KEYS[4], 'state') or 'missing'
local rec = redis.call('HGET', KEYS[5], idx) or ''
local addr = string.match(rec, '^([^\030\031]*)') or ''
local suppressed = '0'
if redis.call('SISMEMBER', KEYS[6], addr) == 1 or redis.call('SISMEMBER', KEYS[7], addr) == 1 then
  suppressed = '1'
end
return {'ok', tostring(attempt), cstate, rec, gt, suppressed}
