-- expire.lua: the sweeper's view of one overdue in-flight entry.
-- A claim whose lease ran out may have reached Tencent: park it in doubt (never resend blindly).
-- A grant whose job never started is returned so the caller can enqueue its job again.
-- KEYS: 1 state bucket, 2 counts, 3 inflight, 4 doubt
-- ARGV: 1 idx, 2 now, 3 new grant deadline, 4 first reconciliation at
-- Returns: {'regrant', grant id, grant time} | {'parked'} | {'gone', state}
local idx = ARGV[1]
local st = redis.call('HGET', KEYS[1], idx)
if not st then
  redis.call('ZREM', KEYS[3], idx)
  return {'gone', 'missing'}
end
local k = string.sub(st, 1, 1)
if k == 'g' then
  local grant, _, gt = string.match(st, '^g|([^|]+)|(%d+)|(.+)$')
  redis.call('ZADD', KEYS[3], tonumber(ARGV[3]), idx)
  return {'regrant', grant, gt}
elseif k == 'c' then
  local tok, dl, attempt, grant, gt = string.match(st, '^c|([^|]*)|([^|]*)|(%d+)|([^|]*)|(.*)$')
  if tonumber(dl) > tonumber(ARGV[2]) then return {'gone', st} end
  redis.call('HSET', KEYS[1], idx, 'd|' .. tok .. '|' .. ARGV[2] .. '|' .. attempt .. '|' .. grant .. '|' .. gt)
  redis.call('HINCRBY', KEYS[2], 'inflight', -1)
  redis.call('HINCRBY', KEYS[2], 'in_doubt', 1)
  redis.call('ZREM', KEYS[3], idx)
  redis.call('ZADD', KEYS[4], tonumber(ARGV[4]), idx)
  return {'parked'}
end
redis.call('ZREM', KEYS[3], idx)
return {'gone', st}
