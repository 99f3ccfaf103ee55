-- One admission across every scope of a request (goodstanding.limits.ratelimit), atomically.
--
-- Each counter is a hash: bucket number -> amount, plus 't' (running total), 'o' (oldest
-- bucket kept) and 'z' (newest bucket). Bucket numbers are computed by the caller, so Lua
-- and Python never disagree on a boundary.
--
-- KEYS[i]  the counter of limit i
-- ARGV     for each limit i: limit, bucket (now), cost, ttl in ms
-- returns  {admitted, denied (1-based, 0 = none), wait bucket, total_1, newest_1, ...}
--          totals are after counting when admitted, before counting when not; a wait
--          bucket of -1 means the cost can never fit

local BUCKETS = 60
local n = #KEYS
local totals, newest = {}, {}

local function trim(key, oldest)
  local state = redis.call('HMGET', key, 't', 'o', 'z')
  local t, o, z = tonumber(state[1]), tonumber(state[2]), tonumber(state[3])
  if not t then return 0, nil, nil end
  if z < oldest then
    redis.call('DEL', key)
    return 0, nil, nil
  end
  if o < oldest then
    for b = o, oldest - 1 do
      local amount = redis.call('HGET', key, b)
      if amount then
        t = t - tonumber(amount)
        redis.call('HDEL', key, b)
      end
    end
    o = oldest
    redis.call('HSET', key, 't', t, 'o', o)
  end
  return t, o, z
end

local function wait_bucket(key, o, z, excess)
  local freed = 0
  for b = o, z do
    local amount = redis.call('HGET', key, b)
    if amount then
      freed = freed + tonumber(amount)
      if freed >= excess then return b end
    end
  end
  return z
end

local out = {1, 0, 0}
local olds = {}
for i = 1, n do
  local base = (i - 1) * 4
  local limit, bucket, cost = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]),
    tonumber(ARGV[base + 3])
  local t, o, z = trim(KEYS[i], bucket - BUCKETS)
  totals[i], newest[i], olds[i] = t, z or -1, o
  if t + cost > limit then
    out[1], out[2] = 0, i
    if cost > limit then
      out[3] = -1
    else
      out[3] = wait_bucket(KEYS[i], o, z, t + cost - limit)
    end
    for j = 1, i do
      out[#out + 1] = totals[j]
      out[#out + 1] = newest[j]
    end
    return out
  end
end

for i = 1, n do
  local base = (i - 1) * 4
  local bucket, cost, ttl = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]),
    tonumber(ARGV[base + 4])
  local key = KEYS[i]
  redis.call('HINCRBY', key, bucket, cost)
  if olds[i] then
    redis.call('HSET', key, 't', totals[i] + cost, 'z', bucket)
  else
    redis.call('HSET', key, 't', totals[i] + cost, 'z', bucket, 'o', bucket)
  end
  redis.call('PEXPIRE', key, ttl)
  out[#out + 1] = totals[i] + cost
  out[#out + 1] = bucket
end
return out
