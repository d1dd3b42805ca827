-- transition.lua: move a campaign to `to` if its current state is one of the allowed sources.
-- The caller takes `to` and the sources from the one transition table
-- (orchestrator/core/campaign_state.py); the fields written are those every state change writes.
-- KEYS: 1 campaign meta
-- ARGV: 1 to, 2 reason, 3 by, 4 now, 5 a `paused_by` that refuses the change ('' for none: a resume
--       without an acknowledgement passes 'automatic', read here in the same step as the state, so an
--       automatic pause made after the caller looked is not lifted unacknowledged), 6.. allowed sources
-- Returns: {'ok', was} | {'same', was} | {'refused', was} | {'needs_ack', was} | {'missing', ''}
local meta = KEYS[1]
local to, reason, by, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local cur = redis.call('HGET', meta, 'state')
if not cur then return {'missing', ''} end
if cur == to then return {'same', cur} end
local allowed = false
for i = 6, #ARGV do if ARGV[i] == cur then allowed = true end end
if not allowed then return {'refused', cur} end
if ARGV[5] ~= '' and redis.call('HGET', meta, 'paused_by') == ARGV[5] then return {'needs_ack', cur} end
redis.call('HSET', meta, 'state', to, 'reason', reason, 'paused_by', by, 'changed_at', now)
return {'ok', cur}
