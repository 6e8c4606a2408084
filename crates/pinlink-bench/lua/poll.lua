-- poll: GET /api/v2/pins/{id} of a pending pin chosen at random, with the
-- client identifier that created it. BENCH_PINS names a file of
-- "id client-identifier" lines; BENCH_ACCEPT is the Accept header.
local ids, clients = {}, {}
local accept

function init(args)
  for _, line in ipairs(read_lines(os.getenv("BENCH_PINS"))) do
    local id, client = line:match("^(%S+) (%S+)")
    ids[#ids + 1] = id
    clients[#clients + 1] = client
  end
  accept = os.getenv("BENCH_ACCEPT") or "application/json"
  math.randomseed(1000 + wrk.thread:get("index"))
end

function request()
  local i = math.random(#ids)
  return "GET /api/v2/pins/" .. ids[i] .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n" ..
    "X-Plex-Client-Identifier: " .. clients[i] .. "\r\nAccept: " .. accept .. "\r\n\r\n"
end
