-- link, as operators run it: the default limits on, many accounts each
-- linking devices from another client address (random_forwarded_for in
-- common.lua), so each link reserves a wrong code from its account's and
-- its address's budgets and gives it back when the code is right. Codes
-- from BENCH_CODES (read_codes in common.lua); BENCH_TOKENS a file of the
-- accounts' tokens, one per line, taken in turn.
local tokens = {}

function init(args)
  read_codes()
  tokens = read_lines(os.getenv("BENCH_TOKENS"))
  math.randomseed(3000 + wrk.thread:get("index"))
end

function request()
  local code, index = next_code()
  local token = tokens[(index % #tokens) + 1]
  local body = "code=" .. code
  return "PUT /api/v2/pins/link HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Plex-Token: " .. token ..
    "\r\nX-Forwarded-For: " .. random_forwarded_for() ..
    "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " .. #body ..
    "\r\n\r\n" .. body
end
