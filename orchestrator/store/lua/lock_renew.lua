-- lock_renew.lua: extend a lock (the pacer's leader lock, submit's commit turn), only while its
-- holder still holds it.
-- KEYS: 1 the lock
-- ARGV: 1 the holder's token, 2 time to live ms
-- Returns: 1 renewed | 0 held by another or expired
local lock = KEYS[1]

if redis.call('GET', lock) == ARGV[1] then return redis.call('PEXPIRE', lock, ARGV[2]) end
return 0
