-- poll: GET /api/v2/pins/{id} of a pending pin chosen at random, with the
-- client identifier that created it. BENCH_PINS names a file of
-- "id client-identifier" lines; BENCH_ACCEPT is the Accept header.
--
-- Ids are kept as numbers and client identifiers as an index into the few
-- distinct ones, so a million pins make no million strings for wrk's
-- garbage collector to walk (its pauses would show up as our latency).
local ids, client_of = {}, {}
local clients, client_index = {}, {}
local accept

function init(args)
  for _, line in ipairs(read_lines(os.getenv("BENCH_PINS"))) do
    local id, client = line:match("^(%S+) (%S+)")
    local n = client_index[client]
    if n == nil then
      clients[#clients + 1] = client
      n = #clients
      client_index[client] = n
    end
    ids[#ids + 1] = tonumber(id)
    client_of[#client_of + 1] = n
  end
  accept = os.getenv("BENCH_ACCEPT") or "application/json"
  math.randomseed(1000 + wrk.thread:get("index"))
end

function request()
  local i = math.random(#ids)
  return "GET /api/v2/pins/" .. ids[i] .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n" ..
    "X-Plex-Client-Identifier: " .. clients[client_of[i]] .. "\r\nAccept: " .. accept .. "\r\n\r\n"
end
