-- export_sends.lua: what `export` shows of accepted recipients, for a chunk of them in one call.
-- KEYS: 1 the MessageId map, then each message's hash (wo:fb:m:<MessageId>), in ARGV's order
-- ARGV: the MessageIds
-- Returns: per MessageId {its MessageId map value or '', the field names of its hash}
local out = {}
for i, mid in ipairs(ARGV) do
  out[i] = {redis.call('HGET', KEYS[1], mid) or '', redis.call('HKEYS', KEYS[i + 1])}
end
return out
