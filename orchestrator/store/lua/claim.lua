-- claim.lua: a worker takes a granted recipient under a lease (compare-and-swap on the grant id).
-- Also says whether the address is suppressed right now (blocklist, or unsubscribed from the sender).
-- KEYS: 1 state bucket, 2 counts, 3 inflight, 4 campaign meta, 5 record bucket, 6 blocklist,
--       7 the sender domain's unsubscribed set
-- ARGV: 1 idx, 2 grant id, 3 token, 4 lease deadline (now + lease, computed by the caller)
-- Returns: {'ok', attempt, campaign state, record, grant time, suppressed 0/1} | {'stale', current state}
local states, counts, inflight, meta, records, blocklist, unsubscribed =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local idx, grant, token, deadline = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local st = redis.call('HGET', states, idx)
if not st then return {'stale', 'missing'} end
local e = ledger_parse(st)
if not e or e.state ~= 'granted' or e.grant ~= grant then return {'stale', st} end
local attempt = tostring(tonumber(e.attempts) + 1)
redis.call('HSET', states, idx, ledger_format('inflight', {
  token = token, deadline = deadline, attempt = attempt, grant = grant, grant_time = e.grant_time}))
redis.call('ZADD', inflight, deadline, idx)
redis.call('HINCRBY', counts, 'granted', -1)
redis.call('HINCRBY', counts, 'inflight', 1)
local cstate = redis.call('HGET', meta, 'state') or 'missing'
local rec = redis.call('HGET', records, idx) or ''
local addr = string.match(rec, '^([^\030\031]*)') or ''
local suppressed = '0'
if redis.call('SISMEMBER', blocklist, addr) == 1 or redis.call('SISMEMBER', unsubscribed, addr) == 1 then
  suppressed = '1'
end
return {'ok', attempt, cstate, rec, e.grant_time, suppressed}
