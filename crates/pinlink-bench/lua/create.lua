-- create: POST /api/v2/pins, one short code in 64 and the rest strong (live
-- short codes are capped on a real server too); one client identifier per
-- wrk thread.
local strong_request, short_request
local sent = 0

function init(args)
  local headers = {
    ["Accept"] = "application/json",
    ["X-Plex-Product"] = "pinlink-bench",
    ["X-Plex-Device-Name"] = "bench rig",
    ["X-Plex-Client-Identifier"] = "bench-wrk-" .. wrk.thread:get("index"),
  }
  strong_request = wrk.format("POST", "/api/v2/pins?strong=true", headers)
  short_request = wrk.format("POST", "/api/v2/pins?strong=false", headers)
end

function request()
  sent = sent + 1
  if sent % 64 == 0 then
    return short_request
  end
  return strong_request
end
