-- Add a batch of counts to hashes, atomically, in one call (goodstanding.ops.counts).
--
-- KEYS     the hashes, one per group
-- ARGV     for each key: its number of fields n, its time to live in ms, then n pairs of
--          field and amount
-- Each touched hash lives ttl ms after its last update.

local a = 1
for k = 1, #KEYS do
  local n, ttl = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  a = a + 2
  for _ = 1, n do
    redis.call('HINCRBY', KEYS[k], ARGV[a], ARGV[a + 1])
    a = a + 2
  end
  redis.call('PEXPIRE', KEYS[k], ttl)
end
return 0
