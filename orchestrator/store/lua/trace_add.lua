-- trace_add.lua: add a batch of submitted rows to a campaign's address index (store/trace_index.py).
-- KEYS: the index buckets the batch touches
-- ARGV: 1 entries kept per address, 2 the TTL of staged keys (ms),
--       then one argument per row, "<bucket>:<row>:<what>:<address>": the bucket's position in KEYS,
--       the row, what submit made of it (the recipient's index when loaded, else i invalid,
--       d duplicate, s suppressed) and the address (one argument a row: fewer to pack)
-- Returns: per duplicate row, in order, the row of the first one of its address ('' unknown)
local keep, ttl = tonumber(ARGV[1]), ARGV[2]
local firsts = {}
for i = 3, #ARGV do
  local pos, row, what, field = string.match(ARGV[i], '^(%d+):(%d+):([^:]+):(.*)$')
  local key = KEYS[tonumber(pos)]
  local value = redis.call('HGET', key, field)
  local n = 0
  if value then n = select(2, string.gsub(value, ',', ',')) + 1 end
  if what == 'd' then
    -- The first row of the address: loaded or suppressed (an invalid row is not one).
    local first = ''
    for entry in string.gmatch(value or '', '[^,]+') do
      local r, x = string.match(entry, '^(%d+):(.*)$')
      if r and x ~= 'i' and x ~= 'd' then first = r break end
    end
    table.insert(firsts, first)
  end
  -- An address repeated many times keeps its first rows, not all (`export` has every row).
  if n < keep then
    redis.call('HSET', key, field, value and (value .. ',' .. row .. ':' .. what) or (row .. ':' .. what))
  end
end
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ttl) end
return firsts
