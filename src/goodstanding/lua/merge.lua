-- Merge this process's abuse-signal counts into shared hashes and read them back
-- (goodstanding.abuse.shared), atomically, in one call.
--
-- KEYS     the hashes
-- ARGV     for each key: its time to live in ms, its number of fields n (0: only read it),
--          then n pairs of field and amount
-- returns  for each key, its fields and values (HGETALL) after the update

local a, out = 1, {}
for k = 1, #KEYS do
  local ttl, n = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  a = a + 2
  for _ = 1, n do
    redis.call('HINCRBY', KEYS[k], ARGV[a], ARGV[a + 1])
    a = a + 2
  end
  if n > 0 then
    redis.call('PEXPIRE', KEYS[k], ttl)
  end
  out[k] = redis.call('HGETALL', KEYS[k])
end
return out
