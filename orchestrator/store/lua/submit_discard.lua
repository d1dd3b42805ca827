-- submit_discard.lua: remove what a failed or interrupted submit staged, and give up its claim.
-- An interruption that came just after the commit went through leaves the campaign alone.
-- KEYS: 1 fingerprint, 2 campaign meta, then every key the submit may have staged
-- ARGV: 1 the claim ('' for `--new`)
-- Returns: 1 discarded | 0 the campaign was committed
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
for i = 3, #KEYS do redis.call('UNLINK', KEYS[i]) end
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
