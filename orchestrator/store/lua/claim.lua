-- claim.lua: a worker takes a granted recipient under a lease (compare-and-swap on the grant id).
-- Also says whether the address is suppressed right now, and by which list (store/suppression.py):
-- Tencent's blocklist (until the entry's expires_at), every sender domain, or this sender domain.
-- KEYS: 1 state bucket, 2 counts, 3 inflight, 4 campaign meta, 5 record bucket, 6 blocklist mirror,
--       7 the sender domain's suppression hash, 8 the all-domains suppression hash
-- ARGV: 1 idx, 2 grant id, 3 token, 4 lease deadline (now + lease, computed by the caller), 5 now,
--       6 where the worker sends (core/endpoint.sending_target; '' binds nothing): a sending campaign's
--       first claim binds it there (field `target` of its meta, unbound by each change of its state:
--       transition.lua), 7 the state in which a campaign sends (core/campaign_state.SENDING)
-- Returns: {'ok', attempt, campaign state, record, grant time, suppressed by ('' | 'blocklist' | 'all' |
--          'domain'), that entry's JSON, where the campaign's mail went when it is not where this worker
--          sends ('' otherwise)} | {'stale', current state}
local states, counts, inflight, meta, records, blocklist, unsubscribed, everywhere =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local idx, grant, token, deadline, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local target, sending = ARGV[6], ARGV[7]

local st = redis.call('HGET', states, idx)
if not st then return {'stale', 'missing'} end
local e = ledger_parse(st)
if not e or e.state ~= 'granted' or e.grant ~= grant then return {'stale', st} end
local attempt = tostring(tonumber(e.attempts) + 1)
-- Every read first: a key of the wrong type (WRONGTYPE) stops the script before it has written
-- anything, so the recipient stays granted (the sweeper grants it again), never half claimed.
local cstate = redis.call('HGET', meta, 'state') or 'missing'
local bound = target ~= '' and cstate == sending and redis.call('HGET', meta, 'target')
local rec = redis.call('HGET', records, idx) or ''
local addr = string.match(rec, '^([^\030\031]*)') or ''
local by, entry = '', ''
local blocked = redis.call('HGET', blocklist, string.lower(addr))  -- Tencent's list ignores case
if blocked then
  -- An unreadable entry suppresses too: in doubt, do not mail.
  local ok, b = pcall(cjson.decode, blocked)
  if not (ok and type(b) == 'table' and tonumber(b.expires_at) and tonumber(b.expires_at) <= now) then
    by, entry = 'blocklist', blocked
  end
end
-- Suppressions are kept folded (core/addresses.fold: ASCII lower case, as string.lower); an entry
-- written before that is kept as written.
for _, list in ipairs({{'all', everywhere}, {'domain', unsubscribed}}) do
  if by == '' then
    local found = redis.call('HGET', list[2], string.lower(addr)) or redis.call('HGET', list[2], addr)
    if found then by, entry = list[1], found end
  end
end
redis.call('HSET', states, idx, ledger_format('inflight', {
  token = token, deadline = deadline, attempt = attempt, grant = grant, grant_time = e.grant_time}))
redis.call('ZADD', inflight, deadline, idx)
redis.call('HINCRBY', counts, 'granted', -1)
redis.call('HINCRBY', counts, 'inflight', 1)
local elsewhere = ''
if bound == nil or bound == false then
  if target ~= '' and cstate == sending then redis.call('HSET', meta, 'target', target) end
elseif bound ~= target then
  elsewhere = bound
end
return {'ok', attempt, cstate, rec, e.grant_time, by, entry, elsewhere}
