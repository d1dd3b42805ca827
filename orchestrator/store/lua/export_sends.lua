-- export_sends.lua: what `export` shows of accepted recipients, for a chunk of them in one call.
-- KEYS: 1 the MessageId map, then each message's hash (wo:fb:m:<MessageId>), in ARGV's order
-- ARGV: the MessageIds
-- Returns: per MessageId {its MessageId map value or '', the field names of its hash, the stored
--          "dropped" event's JSON or '' (Tencent accepted the call, then did not send the mail)}
local out = {}
for i, mid in ipairs(ARGV) do
  local names = redis.call('HKEYS', KEYS[i + 1])
  local dropped = ''
  for _, name in ipairs(names) do
    if dropped == '' and string.sub(name, 1, 8) == 'dropped|' then
      dropped = redis.call('HGET', KEYS[i + 1], name) or ''
    end
  end
  out[i] = {redis.call('HGET', KEYS[1], mid) or '', names, dropped}
end
return out
