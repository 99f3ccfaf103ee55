-- Replace a token reservation by the actual usage (goodstanding.ratelimit), atomically.
--
-- KEYS[i]  the counter of token limit i (see acquire.lua for its layout)
-- ARGV     delta (actual - reserved), then for each limit: the reservation's bucket and the
--          oldest bucket still counted now
-- A bucket that has left the window (or was never kept) is left alone; an amount never goes
-- below zero.

local delta = tonumber(ARGV[1])
for i = 1, #KEYS do
  local key = KEYS[i]
  local bucket, oldest = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
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
return 0
