-- blocklist_sync.lua: replace one Tencent account's part of the blocklist mirror with what Tencent
-- lists now, and drop every entry past its expiry, in one atomic step.
-- KEYS: 1 the blocklist mirror (hash address -> JSON), 2 last sync time per account (hash)
-- ARGV: 1 account, 2 now, 3.. address, JSON entry, address, JSON entry, ...
-- Returns: {added, removed}
local mirror, synced = KEYS[1], KEYS[2]
local account, now = ARGV[1], tonumber(ARGV[2])
local listed = {}
for i = 3, #ARGV, 2 do listed[ARGV[i]] = ARGV[i + 1] end

local removed = 0
local current = redis.call('HGETALL', mirror)
local present = {}
for i = 1, #current, 2 do
  local addr = current[i]
  local ok, e = pcall(cjson.decode, current[i + 1])
  local mine = ok and type(e) == 'table' and e.account == account
  local expired = ok and type(e) == 'table' and tonumber(e.expires_at) ~= nil and tonumber(e.expires_at) <= now
  if (mine and not listed[addr]) or (expired and not listed[addr]) then
    redis.call('HDEL', mirror, addr)
    removed = removed + 1
  else
    present[addr] = true
  end
end
local added = 0
for addr, entry in pairs(listed) do
  if not present[addr] then added = added + 1 end
  redis.call('HSET', mirror, addr, entry)
end
redis.call('HSET', synced, account, ARGV[2])
return {added, removed}
