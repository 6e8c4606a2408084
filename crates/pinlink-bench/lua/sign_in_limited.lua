-- sign-in, as operators run it: the default limits on, BENCH_ACCOUNTS
-- accounts ("bench-N", password in BENCH_PASSWORD) signing in in turn,
-- each request from another client address (X-Forwarded-For, as in
-- create_limited.lua) and another client identifier. Every sign-in checks
-- an Argon2id hash, which is what this measures. The server answers 503
-- when every password slot stayed busy for its wait: counted apart as
-- refusals.
local accounts, password
local prefix
local n = 0

function init(args)
  accounts = tonumber(os.getenv("BENCH_ACCOUNTS"))
  password = os.getenv("BENCH_PASSWORD")
  local index = wrk.thread:get("index")
  math.randomseed(os.time() * 100 + index)
  prefix = "bench-signin-" .. index .. "-" .. math.random(0, 1000000) .. "-"
end

function request()
  n = n + 1
  local address = random_forwarded_for()
  local body = "login=bench-" .. (n % accounts) .. "&password=" .. password
  return "POST /api/v2/users/signin HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n" ..
    "X-Plex-Product: pinlink-bench\r\nX-Plex-Client-Identifier: " .. prefix .. n ..
    "\r\nX-Forwarded-For: " .. address ..
    "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " .. #body ..
    "\r\n\r\n" .. body
end

-- A 503 (the password checks stayed busy) is a refusal, counted apart.
created_or_refused()
