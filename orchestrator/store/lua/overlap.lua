-- overlap.lua: which of a batch of addresses a campaign's address index holds as loaded rows
-- (submit_overlap.py: a list that shares addresses with an unfinished campaign).
-- KEYS: the campaign's index buckets the batch falls in
-- ARGV: 1 the addresses, each "<bucket>:<field>" followed by a NUL byte: the bucket's position in KEYS
--       and the folded address (one argument for the batch, as lua/trace_add.lua takes them)
-- Returns: {how many are held, the position in the batch (1-based) of the first one, or 0}
local items, at, n, held, first = ARGV[1], 1, 0, 0, 0
while at <= #items do
  local stop = string.find(items, '\0', at, true)
  local pos, field = string.match(string.sub(items, at, stop - 1), '^(%d+):(.*)$')
  at = stop + 1
  n = n + 1
  local value = redis.call('HGET', KEYS[tonumber(pos)], field)
  -- An entry "<row>:<what>,..." names a loaded row when `what` is a ledger index (digits).
  if value and string.find(',' .. value, ',%d+:%d+') then
    held = held + 1
    if first == 0 then first = n end
  end
end
return {held, first}
