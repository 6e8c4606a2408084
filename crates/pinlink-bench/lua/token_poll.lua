-- The RFC 8628 token request of a pending device code chosen at random
-- among BENCH_CODES (a file, one per line), as the public client
-- BENCH_CLIENT; answered 400 (authorization_pending or slow_down:
-- BENCH_EXPECTED_STATUS=400). BENCH_PATH is the token endpoint. Used for
-- pinlink and for the peer alike.
local requests = {}

function init(args)
  local path = os.getenv("BENCH_PATH")
  local client = os.getenv("BENCH_CLIENT") or "bench"
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  for _, code in ipairs(read_lines(os.getenv("BENCH_CODES"))) do
    local body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code" ..
      "&device_code=" .. code .. "&client_id=" .. client
    requests[#requests + 1] = wrk.format("POST", path, headers, body)
  end
  math.randomseed(3000 + wrk.thread:get("index"))
end

function request()
  return requests[math.random(#requests)]
end
