-- callback.lua: count a batch of Tencent's delivery events, each at most once per message and metric.
-- The rules (which metric an event is, what settles or suppresses) are decided in Python by
-- orchestrator/core/quality.py; this script only applies them, atomically for the whole batch.
-- KEYS: 1 message ids (wo:msgid), 2 totals, 3 unknown counter, 4 early zset, 5 pending zset,
--       then per event (4 each): message hash, hour bucket of its send, early list, suppression hash
-- ARGV: 1 now, 2 message TTL s, 3 hour bucket TTL s, 4 early TTL s, 5 trace cap,
--       then per event (11 each): MessageId, the map value the caller read, metric, trace field,
--       event JSON, recipient domain group, identity, campaign, address, suppression JSON ('' none),
--       settles (1/0)
-- Returns: {'moved'} when a map value changed since the caller read it (nothing written: read again),
--          else {counted, duplicates, early, suppressed, refused suppressions}
local message_ids, totals, unknown, early_zset, pending = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, msg_ttl, hour_ttl, early_ttl, cap = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local n = (#ARGV - 5) / 11

for i = 0, n - 1 do
  local a = 5 + i * 11
  if (redis.call('HGET', message_ids, ARGV[a + 1]) or '') ~= ARGV[a + 2] then return {'moved'} end
end

local counted, dups, early, supp, refused = 0, 0, 0, 0, 0
for i = 0, n - 1 do
  local a, k = 5 + i * 11, 5 + i * 4
  local msgid, known, metric, field, body = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local group, identity, campaign, address = ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9]
  local supp_json, settles = ARGV[a + 10], ARGV[a + 11]
  local message, hour, early_list, supp_key = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  if known == '' then
    -- The send is not recorded yet (or never will be): keep the event a while, apply it later.
    redis.call('INCR', unknown)
    redis.call('RPUSH', early_list, body)
    redis.call('LTRIM', early_list, -cap, -1)
    redis.call('EXPIRE', early_list, early_ttl)
    redis.call('ZADD', early_zset, 'NX', now, msgid)
    early = early + 1
  else
    local fresh = redis.call('HEXISTS', message, field) == 0
    if fresh and redis.call('HLEN', message) < cap then redis.call('HSET', message, field, body) end
    if redis.call('HSETNX', message, 'u:' .. metric, now) == 1 then
      counted = counted + 1
      for _, f in ipairs({metric .. '|i|' .. identity, metric .. '|c|' .. campaign, metric .. '|g|' .. group}) do
        redis.call('HINCRBY', hour, f, 1)
      end
      redis.call('EXPIRE', hour, hour_ttl)
      redis.call('HINCRBY', totals, metric .. '|' .. identity .. '|' .. campaign, 1)
      if supp_json ~= '' then
        local t = redis.call('TYPE', supp_key)['ok']
        if t == 'hash' or t == 'none' then
          redis.call('HSETNX', supp_key, address, supp_json)
          supp = supp + 1
        else
          refused = refused + 1  -- still the older SET layout: left to its migration
        end
      end
    elseif not fresh then
      dups = dups + 1
    end
    if settles == '1' then redis.call('ZREM', pending, msgid) end
    redis.call('EXPIRE', message, msg_ttl)
  end
end
return {counted, dups, early, supp, refused}
