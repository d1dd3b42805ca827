-- expire.lua: the sweeper's view of one overdue in-flight entry.
-- A claim whose lease ran out may have reached Tencent: park it in doubt (never resend blindly).
-- A grant whose job never started is returned so the caller can enqueue its job again.
-- KEYS: 1 state bucket, 2 counts, 3 inflight, 4 doubt
-- ARGV: 1 idx, 2 now, 3 new grant deadline, 4 first reconciliation at
-- A state that cannot be read (damaged) keeps its lease, looked at again after the grant deadline:
-- the recipient stays counted in flight (its campaign cannot complete) and the caller warns.
-- Returns: {'regrant', grant id, grant time} | {'parked'} | {'unreadable', state} | {'gone', state}
local states, counts, inflight, doubt = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local idx, now = ARGV[1], ARGV[2]

local st = redis.call('HGET', states, idx)
if not st then
  redis.call('ZREM', inflight, idx)
  return {'gone', 'missing'}
end
local e = ledger_parse(st)
if e and e.state == 'granted' then
  redis.call('ZADD', inflight, tonumber(ARGV[3]), idx)
  return {'regrant', e.grant, e.grant_time}
elseif e and e.state == 'inflight' then
  if tonumber(e.deadline) > tonumber(now) then return {'gone', st} end
  redis.call('HSET', states, idx, ledger_format('in_doubt', {
    token = e.token, since = now, attempt = e.attempt, grant = e.grant, grant_time = e.grant_time}))
  redis.call('HINCRBY', counts, 'inflight', -1)
  redis.call('HINCRBY', counts, 'in_doubt', 1)
  redis.call('ZREM', inflight, idx)
  redis.call('ZADD', doubt, tonumber(ARGV[4]), idx)
  return {'parked'}
end
if not e then
  redis.call('ZADD', inflight, tonumber(ARGV[3]), idx)
  return {'unreadable', st}
end
redis.call('ZREM', inflight, idx)
return {'gone', st}
