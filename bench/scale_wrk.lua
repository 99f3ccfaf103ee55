-- wrk script for bench/scale.py: POST /v1/chat/completions, a different body every request.
-- Same load as scale_load.aiohttp_load: 100 end users (safety_identifier bench-user-0..99) in
-- turn, a request number in front of the prompt so no two prompts (and no two screens) repeat.
-- Token from BENCH_TOKEN. `done` prints one WRK_JSON line that scale_load.py reads; wrk counts
-- any answer with a status above 399 in errors.status, and scale.py fails the run if it is not 0.

local prompt = string.rep(
  "Summarise the following paragraph for a customer newsletter in two sentences. ", 4)
local template = '{"model":"gpt-4o-mini","max_tokens":200,"safety_identifier":"bench-user-%d",'
  .. '"messages":[{"role":"user","content":"%08d %s"}]}'
local threads = {}
local counter = 0

function setup(thread)
  thread:set("thread_number", #threads)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
  wrk.headers["content-type"] = "application/json"
end

function request()
  local number = counter * 64 + thread_number  -- unique across (up to 64) threads
  local user = (counter + thread_number) % 100
  counter = counter + 1
  return wrk.format(nil, "/v1/chat/completions", nil, string.format(template, user, number, prompt))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
