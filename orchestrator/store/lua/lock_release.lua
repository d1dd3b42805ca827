-- lock_release.lua: drop the pacer's leader lock, only if this pacer still holds it.
-- KEYS: 1 the lock
-- ARGV: 1 this pacer's token
-- Returns: 1 released | 0 held by another pacer or expired
local lock = KEYS[1]

if redis.call('GET', lock) == ARGV[1] then return redis.call('DEL', lock) end
return 0
