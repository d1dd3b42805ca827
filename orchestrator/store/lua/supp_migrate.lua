-- supp_migrate.lua: turn suppression lists written as SETs (before reasons were kept) into the
-- hashes of store/suppression.py, each key in one atomic step; a hash or a missing key is left alone.
-- KEYS: 1..n the suppression keys to convert (wo:supp:blocklist, wo:supp:all, wo:supp:domain:<d>)
-- ARGV: 1..n the JSON entry each member of KEYS[i] gets; n+1 the blocklist's key (its fields are lower-cased)
-- Returns: how many members were converted
local converted = 0
for i, key in ipairs(KEYS) do
  if redis.call('TYPE', key).ok == 'set' then
    local members = redis.call('SMEMBERS', key)
    redis.call('DEL', key)
    for _, m in ipairs(members) do
      local field = m
      if key == ARGV[#KEYS + 1] then field = string.lower(m) end
      redis.call('HSET', key, field, ARGV[i])
      converted = converted + 1
    end
  end
end
return converted
