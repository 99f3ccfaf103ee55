-- Note a member under a key and count the distinct members seen within a window.
--
-- KEYS[1]  a sorted set: member -> when last seen
-- ARGV     now, window (seconds), member
-- returns  how many distinct members were seen in (now - window, now]

local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
return redis.call('ZCARD', KEYS[1])
