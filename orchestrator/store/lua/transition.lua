-- transition.lua: move a campaign to `to` if its current state is one of the allowed sources.
-- The caller takes `to` and the sources from the one transition table
-- (orchestrator/core/campaign_state.py); the fields written are those every state change writes.
-- KEYS: 1 campaign meta, 2 the acknowledged automatic pauses (hash: campaign -> when)
-- ARGV: 1 to, 2 reason, 3 by, 4 now, 5 the automatic pauser's name ('' when the change is not a resume),
--       6 '1' when the caller acknowledges an automatic pause, 7 campaign id, 8 the name of the pauser
--       whose pause, lifted, unbinds where the campaign's mail goes ('' when the change is not a resume;
--       claim.lua binds it again at the next claim), 9 '1' when the change retakes a campaign already in
--       `to` by another author (records its reason and author: an automatic pause over the operator's),
--       10.. allowed sources.
--       Who paused is read here in the same step as the state: a resume without an acknowledgement
--       never lifts an automatic pause, even one made after the caller looked; one with it stores the
--       acknowledgement with the change (the guardrails judge only later sends).
-- Returns: {'ok', was} | {'same', was} | {'refused', was} | {'needs_ack', was} | {'missing', ''}
local meta, acks = KEYS[1], KEYS[2]
local to, reason, by, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local cur = redis.call('HGET', meta, 'state')
if not cur then return {'missing', ''} end
if cur == to then
  if ARGV[9] ~= '1' or redis.call('HGET', meta, 'paused_by') == by then return {'same', cur} end
  redis.call('HSET', meta, 'reason', reason, 'paused_by', by, 'changed_at', now)
  return {'ok', cur}
end
local allowed = false
for i = 10, #ARGV do if ARGV[i] == cur then allowed = true end end
if not allowed then return {'refused', cur} end
local paused_by = redis.call('HGET', meta, 'paused_by')
local automatic = ARGV[5] ~= '' and paused_by == ARGV[5]
if automatic and ARGV[6] ~= '1' then return {'needs_ack', cur} end
redis.call('HSET', meta, 'state', to, 'reason', reason, 'paused_by', by, 'changed_at', now)
-- Lifting the pause a worker made because it sends elsewhere is the operator's word that the mail may
-- go there: the next claim binds the campaign again (claim.lua). Any other change keeps the binding.
if ARGV[8] ~= '' and paused_by == ARGV[8] then redis.call('HDEL', meta, 'target') end
if automatic then redis.call('HSET', acks, ARGV[7], now) end
return {'ok', cur}
