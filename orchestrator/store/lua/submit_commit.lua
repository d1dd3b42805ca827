-- submit_commit.lua: make a fully staged campaign visible, all at once, if the submit still owns
-- its claim and every staged key is still there (a submit stalled past the TTL lost them).
-- KEYS: 1 fingerprint, 2 campaign meta, 3 counts, 4 campaigns zset, 5 queue, then every other staged
--       key (the record buckets, the address index `:a:*` and the dropped rows `:x:*`)
-- ARGV: 1 the claim ('' for `--new`), 2 the prefix every claim starts with, 3 campaign id,
--       4 created at, 5 recipients queued, then the meta hash as field, value pairs
-- Returns: {'ok'} | {'lost'} (the claim is gone or another's) | {'expired'} (a staged key is gone)
local fp = redis.call('GET', KEYS[1])
if ARGV[1] ~= '' and fp ~= ARGV[1] then return {'lost'} end
for i = 6, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then return {'expired'} end
end
local queued = tonumber(ARGV[5])
if queued > 0 and redis.call('EXISTS', KEYS[5]) == 0 then return {'expired'} end
for i = 5, #KEYS do redis.call('PERSIST', KEYS[i]) end
redis.call('HSET', KEYS[3], 'queued', queued)
redis.call('HSET', KEYS[2], unpack(ARGV, 6))
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
-- `--new` leaves another submit's claim in progress alone; otherwise the files now name this campaign.
if ARGV[1] ~= '' or not fp or string.sub(fp, 1, #ARGV[2]) ~= ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[3])
end
return {'ok'}
