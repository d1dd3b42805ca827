-- lock_release.lua: drop a lock (the pacer's leader lock, a submit's commit turn), only if its token
-- is still the caller's.
-- KEYS: 1 the lock
-- ARGV: 1 the caller's token
-- Returns: 1 released | 0 held by another or expired
local lock = KEYS[1]

if redis.call('GET', lock) == ARGV[1] then return redis.call('DEL', lock) end
return 0
