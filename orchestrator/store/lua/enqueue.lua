-- enqueue.lua: put many arq jobs on arq's queue in one round trip, in arq's own format.
-- A job whose id is already queued, running or finished (result kept) is skipped, as arq does.
-- KEYS: 1 arq queue, then for each job its three arq keys: job, result, in-progress
-- ARGV: 1 score ms, 2 expires ms, then for each job: job id, serialized job
-- Returns: number of jobs written
local queue = KEYS[1]
local score, expires = ARGV[1], ARGV[2]
local n = 0
for j = 0, (#ARGV - 2) / 2 - 1 do
  local id, body = ARGV[3 + 2 * j], ARGV[4 + 2 * j]
  local job_key, result_key, in_progress_key = KEYS[2 + 3 * j], KEYS[3 + 3 * j], KEYS[4 + 3 * j]
  if redis.call('EXISTS', job_key, result_key, in_progress_key) == 0 then
    redis.call('PSETEX', job_key, expires, body)
    redis.call('ZADD', queue, score, id)
    n = n + 1
  end
end
return n
