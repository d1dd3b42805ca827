-- lock_renew.lua: extend the pacer's leader lock, only while this pacer still holds it.
-- KEYS: 1 the lock
-- ARGV: 1 this pacer's token, 2 time to live ms
-- Returns: 1 renewed | 0 held by another pacer or expired
local lock = KEYS[1]

if redis.call('GET', lock) == ARGV[1] then return redis.call('PEXPIRE', lock, ARGV[2]) end
return 0
