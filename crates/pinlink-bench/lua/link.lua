-- link: PUT /api/v2/pins/link with a fresh pending code each time. BENCH_CODES
-- names a file of codes; thread k of n takes codes k+1, k+1+n, ... and stops
-- when its share runs out (reported as "ran_out": the figure is then a
-- lower bound). BENCH_THREADS is n; BENCH_TOKEN the signed-in account's token.
local codes = {}
local next_index, step
local token

function init(args)
  codes = read_lines(os.getenv("BENCH_CODES"))
  token = os.getenv("BENCH_TOKEN")
  next_index = wrk.thread:get("index") + 1
  step = tonumber(os.getenv("BENCH_THREADS"))
  wrk.thread:set("ran_out", 0)
end

function request()
  local code = codes[next_index]
  if code == nil then
    wrk.thread:set("ran_out", 1)
    wrk.thread:stop()
    code = codes[1]
  end
  next_index = next_index + step
  local body = "code=" .. code
  return "PUT /api/v2/pins/link HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Plex-Token: " .. token ..
    "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " .. #body ..
    "\r\n\r\n" .. body
end
