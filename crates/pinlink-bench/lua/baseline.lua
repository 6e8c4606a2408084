-- baseline: the same GET every time (wrk sends a fixed request at full speed).
wrk.method = "GET"
wrk.path = "/api/v2/pins/1"
wrk.headers["Accept"] = "application/json"
