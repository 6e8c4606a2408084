-- link: PUT /api/v2/pins/link with a fresh pending code each time (from
-- BENCH_CODES, see read_codes in common.lua); BENCH_TOKEN the signed-in
-- account's token.
local token

function init(args)
  read_codes()
  token = os.getenv("BENCH_TOKEN")
end

function request()
  local body = "code=" .. next_code()
  return "PUT /api/v2/pins/link HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Plex-Token: " .. token ..
    "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " .. #body ..
    "\r\n\r\n" .. body
end
