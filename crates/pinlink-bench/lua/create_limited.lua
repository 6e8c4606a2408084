-- create, as operators run it: the default limits on, every request from
-- another client address (X-Forwarded-For drawn from 198.18.0.0/15, read
-- because the server trusts 127.0.0.1 as its proxy) and with another client
-- identifier, so every budget and cap does its real work: each create
-- reserves its address's and its client's budgets and counts the live-pin
-- caps. BENCH_STRONG=0 creates 4-character codes, which the server-wide cap
-- on live link codes (512 by default) stops early: those answers are 503s,
-- counted apart as refusals.
local strong = os.getenv("BENCH_STRONG") ~= "0"
local path = strong and "/api/v2/pins?strong=true" or "/api/v2/pins"
local prefix
local n = 0

function init(args)
  local index = wrk.thread:get("index")
  math.randomseed(os.time() * 100 + index)
  prefix = "bench-" .. index .. "-" .. math.random(0, 1000000) .. "-"
end

function request()
  n = n + 1
  local address = random_forwarded_for()
  return "POST " .. path .. " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n" ..
    "X-Plex-Product: pinlink-bench\r\nX-Plex-Client-Identifier: " .. prefix .. n ..
    "\r\nX-Forwarded-For: " .. address .. "\r\nContent-Length: 0\r\n\r\n"
end

-- The cap's 503 is a refusal, counted apart (common.lua).
created_or_refused()
