-- link, as operators run it: the default limits on, many accounts each
-- linking devices from another client address (X-Forwarded-For drawn from
-- 198.18.0.0/15, read because the server trusts 127.0.0.1 as its proxy), so
-- each link reserves a wrong code from its account's and its address's
-- budgets and gives it back when the code is right. BENCH_CODES names a
-- file of pending codes (thread k of n takes codes k+1, k+1+n, ... and
-- stops when its share runs out: "ran_out", a lower bound); BENCH_TOKENS a
-- file of the accounts' tokens, one per line, taken in turn.
local codes, tokens = {}, {}
local next_index, step, n = 0, 0, 0

function init(args)
  codes = read_lines(os.getenv("BENCH_CODES"))
  tokens = read_lines(os.getenv("BENCH_TOKENS"))
  next_index = wrk.thread:get("index") + 1
  step = tonumber(os.getenv("BENCH_THREADS"))
  wrk.thread:set("ran_out", 0)
  math.randomseed(3000 + wrk.thread:get("index"))
end

function request()
  local code = codes[next_index]
  if code == nil then
    wrk.thread:set("ran_out", 1)
    wrk.thread:stop()
    code = codes[1]
  end
  n = n + 1
  local token = tokens[(next_index % #tokens) + 1]
  next_index = next_index + step
  local a = math.random(0, 131071)
  local address = "198." .. (18 + math.floor(a / 65536)) .. "." ..
    (math.floor(a / 256) % 256) .. "." .. (a % 256)
  local body = "code=" .. code
  return "PUT /api/v2/pins/link HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Plex-Token: " .. token ..
    "\r\nX-Forwarded-For: " .. address ..
    "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " .. #body ..
    "\r\n\r\n" .. body
end
