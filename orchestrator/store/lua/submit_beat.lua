-- submit_beat.lua: a running submit's heartbeat. While it beats, its claim on the files'
-- fingerprint and its staged keys live on; once it stops (a SIGKILL), they expire within the TTL.
-- KEYS: 1 fingerprint, then every staged key (record buckets, the queue)
-- ARGV: 1 the claim ('' for `--new`, which claims nothing), 2 TTL in ms
-- Returns: 1, or 0 when the claim is no longer this submit's (nothing is refreshed then)
if ARGV[1] ~= '' then
  if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
for i = 2, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return 1
