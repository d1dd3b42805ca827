-- trace_add.lua: add a batch of submitted rows to a campaign's address index (store/trace_index.py).
-- KEYS: the index buckets the batch touches, the ones it creates first
-- ARGV: 1 entries kept per address, 2 the TTL of staged keys (ms),
--       3 the rows, each "<bucket>:<row>:<what>:<address>" followed by a NUL byte: the bucket's
--       position in KEYS, the row, what submit made of it (the recipient's index when loaded, else
--       i invalid, d duplicate, s suppressed) and the address (one argument for the batch: packing
--       a command's arguments one by one is most of what the caller would spend; no cell holds a
--       NUL, the CSV reader refuses it), 4 how many of KEYS this call creates (they get the TTL;
--       the others have it, renewed by submit's heartbeat)
-- Returns: per duplicate row, in order, the row of the first one of its address ('' unknown)
local keep, ttl = tonumber(ARGV[1]), ARGV[2]
local firsts = {}
local rows, at = ARGV[3], 1
while at <= #rows do
  local stop = string.find(rows, '\0', at, true)
  local item = string.sub(rows, at, stop - 1)
  at = stop + 1
  local pos, row, what, field = string.match(item, '^(%d+):(%d+):([^:]+):(.*)$')
  local key = KEYS[tonumber(pos)]
  -- A loaded or suppressed row is its address's first valid one: usually its first row at all (one
  -- call); only an earlier invalid row of the same text makes it an append.
  local first_try = what ~= 'd' and what ~= 'i' and redis.call('HSETNX', key, field, row .. ':' .. what) == 1
  local value = not first_try and redis.call('HGET', key, field)
  local n = 0
  if first_try then n = keep elseif value then n = select(2, string.gsub(value, ',', ',')) + 1 end
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
for i = 1, tonumber(ARGV[4]) do redis.call('PEXPIRE', KEYS[i], ttl) end
return firsts
