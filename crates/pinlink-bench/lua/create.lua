-- create: POST /api/v2/pins with a strong code (live 4-character codes are
-- capped server-wide, 512 by default: a server creating pins at this rate
-- hands out strong ones); one client identifier per wrk thread.
wrk.method = "POST"
wrk.path = "/api/v2/pins?strong=true"
wrk.headers["Accept"] = "application/json"
wrk.headers["X-Plex-Product"] = "pinlink-bench"
wrk.headers["X-Plex-Device-Name"] = "bench rig"

function init(args)
  wrk.headers["X-Plex-Client-Identifier"] = "bench-wrk-" .. wrk.thread:get("index")
end
