-- Replace token reservations by the actual usage (goodstanding.limits.ratelimit), atomically: a batch
-- of settlements, applied in order, in one call.
--
-- KEYS     the counters of every settlement's token limits, one settlement after the other
--          (see acquire.lua for their layout)
-- ARGV     for each settlement: its number of keys n, delta (actual - reserved), then for
--          each of its n keys: the reservation's bucket and the oldest bucket still counted
-- A bucket that has left the window (or was never kept) is left alone; an amount never goes
-- below zero.

local k, a = 1, 1
while a <= #ARGV do
  local n, delta = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  a = a + 2
  for _ = 1, n do
    local key = KEYS[k]
    local bucket, oldest = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
    k, a = k + 1, a + 2
    if bucket >= oldest then
      local amount = tonumber(redis.call('HGET', key, bucket))
      if amount then
        local change = delta
        if change < -amount then change = -amount end
        if change ~= 0 then  -- (-0 would reach Redis as "-0", which HINCRBY refuses)
          redis.call('HINCRBY', key, bucket, change)
          redis.call('HINCRBY', key, 't', change)
        end
      end
    end
  end
end
return 0
