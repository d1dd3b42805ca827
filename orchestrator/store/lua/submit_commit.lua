-- submit_commit.lua: make a fully staged campaign visible, all at once, if the submit still owns
-- its claim and every staged key is still there (a submit stalled past the TTL lost them); its
-- identities are registered in the same step (a submit that never commits registers nothing).
-- KEYS: 1 fingerprint, 2 campaign meta, 3 counts, 4 campaigns zset, 5 queue, 6 the identities set,
--       7..6+n each identity's hash (store/identities.py `registration`), then every other staged key
--       (the record buckets, the address index `:a:*` and the dropped rows `:x:*`)
-- ARGV: 1 the claim ('' for `--new`), 2 the prefix every claim starts with, 3 campaign id,
--       4 created at, 5 recipients queued, 6 n identities, then per identity: id, warm-up day (kept
--       when the identity has one), m, and m field, value pairs; then the meta hash as field, value pairs
-- Returns: {'ok'} | {'lost'} (the claim is gone or another's) | {'expired'} (a staged key is gone)
local fp = redis.call('GET', KEYS[1])
if ARGV[1] ~= '' and fp ~= ARGV[1] then return {'lost'} end
local n = tonumber(ARGV[6])
local staged = 7 + n
for i = staged, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then return {'expired'} end
end
local queued = tonumber(ARGV[5])
if queued > 0 and redis.call('EXISTS', KEYS[5]) == 0 then return {'expired'} end
redis.call('PERSIST', KEYS[5])
for i = staged, #KEYS do redis.call('PERSIST', KEYS[i]) end
local a = 7
for j = 1, n do
  local key, m = KEYS[6 + j], tonumber(ARGV[a + 2])
  redis.call('HSETNX', key, 'warmup_day', ARGV[a + 1])
  redis.call('HSET', key, unpack(ARGV, a + 3, a + 2 + 2 * m))
  redis.call('SADD', KEYS[6], ARGV[a])
  a = a + 3 + 2 * m
end
redis.call('HSET', KEYS[3], 'queued', queued)
redis.call('HSET', KEYS[2], unpack(ARGV, a))
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
-- `--new` leaves another submit's claim in progress alone; otherwise the files now name this campaign.
if ARGV[1] ~= '' or not fp or string.sub(fp, 1, #ARGV[2]) ~= ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[3])
end
return {'ok'}
