-- complete.lua: complete a running campaign only if nothing is queued, granted or in flight and no
-- doubt awaits its lookup, all read in the same atomic step as the state change (the same fields
-- a transition writes).
-- KEYS: 1 campaign meta, 2 counts, 3 doubt
-- ARGV: 1 reason, 2 now, then the ledger states (orchestrator/core/ledger_state.py STATES)
-- Returns: {'ok', count per state...} | {'busy'} | {'not_running'}
local meta, counts_key, doubt = KEYS[1], KEYS[2], KEYS[3]

-- The completion follows the one transition table (orchestrator/core/campaign_state.py).
if not __COMPLETE_FROM__[redis.call('HGET', meta, 'state')] then return {'not_running'} end
local counts = {}
for i = 3, #ARGV do
  counts[#counts + 1] = tonumber(redis.call('HGET', counts_key, ARGV[i]) or '0')
end
for _, s in ipairs({'queued', 'granted', 'inflight'}) do
  if tonumber(redis.call('HGET', counts_key, s) or '0') ~= 0 then return {'busy'} end
end
if redis.call('ZCARD', doubt) > 0 then return {'busy'} end
redis.call('HSET', meta, 'state', __COMPLETE_TO__, 'reason', ARGV[1], 'paused_by', '', 'changed_at', ARGV[2])
local out = {'ok'}
for _, n in ipairs(counts) do out[#out + 1] = n end
return out
