-- user: GET /api/v2/user with one of the device tokens in BENCH_TOKENS (a
-- file, one per line), chosen at random: the token check on every API call.
local tokens = {}

function init(args)
  tokens = read_lines(os.getenv("BENCH_TOKENS"))
  math.randomseed(2000 + wrk.thread:get("index"))
end

function request()
  return "GET /api/v2/user HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n" ..
    "X-Plex-Token: " .. tokens[math.random(#tokens)] .. "\r\n\r\n"
end
