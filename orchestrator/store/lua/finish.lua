-- finish.lua: record the outcome of a claimed (or in-doubt) send, if the caller still holds it.
-- KEYS: 1 state bucket, 2 counts, 3 inflight, 4 later, 5 queue, 6 campaign meta, 7 id hour,
--       8 id day, 9 id gcra, 10 pool hour, 11 pool day, 12 message ids, 13 events, 14 doubt,
--       15 identity's sends on the grant's Tencent day
-- ARGV: 1 idx, 2 token, 3 now, 4 action, 5 value, 6 ready at, 7 refund (0/1), 8 campaign id,
--       9 grant member, 10 detail, 11 event maxlen, 12 identity
-- action: accepted (value = MessageId) | retry (later at ready_at) | requeue (front of queue,
--         attempt not counted) | failed (value = code) | suppressed (value = reason) |
--         in_doubt | pause (requeue + pause the campaign with reason `detail`)
-- Returns: {'ok', previous kind} | {'stale', current state}
local idx = ARGV[1]
local token = ARGV[2]
local now = tonumber(ARGV[3])
local action = ARGV[4]
local value = ARGV[5]
local st = redis.call('HGET', KEYS[1], idx)
if not st then return {'stale', 'missing'} end
local kind, tok, _, attempt, grant, gt = string.match(st, '^([cd])|([^|]*)|([^|]*)|(%d+)|([^|]*)|(.*)$')
if not kind or tok ~= token then return {'stale', st} end
attempt = tonumber(attempt)
local from = (kind == 'c') and 'inflight' or 'in_doubt'
if kind == 'd' and action == 'in_doubt' then return {'ok', 'd'} end

redis.call('HINCRBY', KEYS[2], from, -1)
redis.call('ZREM', KEYS[3], idx)
redis.call('ZREM', KEYS[14], idx)

if ARGV[7] == '1' then
  -- The mail certainly did not leave: give its budget back.
  local member = ARGV[9]
  if redis.call('ZREM', KEYS[7], member) == 1 then
    redis.call('DECR', KEYS[8])
    redis.call('DECR', KEYS[15])
    local tat = tonumber(redis.call('HGET', KEYS[9], 'tat') or '0')
    local interval = tonumber(redis.call('HGET', KEYS[9], 'interval') or '0')
    if tat > now then redis.call('HSET', KEYS[9], 'tat', math.max(tat - interval, now)) end
  end
  if redis.call('ZREM', KEYS[10], member) == 1 then redis.call('DECR', KEYS[11]) end
end

local function event(etype, extra)
  local args = {'XADD', KEYS[13], 'MAXLEN', '~', ARGV[11], '*', 't', ARGV[3], 'type', etype,
                'campaign', ARGV[8], 'identity', ARGV[12]}
  for _, v in ipairs(extra) do table.insert(args, v) end
  redis.call(unpack(args))
end

if action == 'accepted' then
  redis.call('HSET', KEYS[1], idx, 'a|' .. value)
  redis.call('HINCRBY', KEYS[2], 'accepted', 1)
  redis.call('HSET', KEYS[12], value, ARGV[8] .. ':' .. idx)
elseif action == 'retry' then
  redis.call('HSET', KEYS[1], idx, 'q|' .. attempt)
  redis.call('HINCRBY', KEYS[2], 'queued', 1)
  redis.call('ZADD', KEYS[4], tonumber(ARGV[6]), idx)
elseif action == 'requeue' or action == 'pause' then
  redis.call('HSET', KEYS[1], idx, 'q|' .. (attempt - 1))
  redis.call('HINCRBY', KEYS[2], 'queued', 1)
  redis.call('LPUSH', KEYS[5], idx)
  if action == 'pause' and redis.call('HGET', KEYS[6], 'state') == 'running' then
    redis.call('HSET', KEYS[6], 'state', 'paused', 'reason', ARGV[10], 'paused_by', 'automatic',
               'paused_at', ARGV[3])
    event('campaign_paused', {'reason', ARGV[10], 'by', 'automatic', 'code', value})
  end
elseif action == 'failed' then
  redis.call('HSET', KEYS[1], idx, 'f|' .. value)
  redis.call('HINCRBY', KEYS[2], 'failed', 1)
elseif action == 'suppressed' then
  redis.call('HSET', KEYS[1], idx, 's|' .. value)
  redis.call('HINCRBY', KEYS[2], 'suppressed', 1)
elseif action == 'in_doubt' then
  redis.call('HSET', KEYS[1], idx, 'd|' .. token .. '|' .. now .. '|' .. attempt .. '|' .. grant .. '|' .. gt)
  redis.call('HINCRBY', KEYS[2], 'in_doubt', 1)
  redis.call('ZADD', KEYS[14], tonumber(ARGV[6]), idx)
else
  return redis.error_reply('unknown action ' .. action)
end
return {'ok', kind}
