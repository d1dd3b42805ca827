-- enqueue.lua: put many arq jobs on arq's queue in one round trip, in arq's own format.
-- A job whose id is already queued, running or finished (result kept) is skipped, as arq does.
-- KEYS: 1 arq queue
-- ARGV: 1 score ms, 2 expires ms, then pairs: job id, serialized job
-- Returns: number of jobs written
local score = ARGV[1]
local expires = ARGV[2]
local n = 0
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('EXISTS', 'arq:job:' .. id, 'arq:result:' .. id, 'arq:in-progress:' .. id) == 0 then
    redis.call('PSETEX', 'arq:job:' .. id, expires, ARGV[i + 1])
    redis.call('ZADD', KEYS[1], score, id)
    n = n + 1
  end
end
return n
