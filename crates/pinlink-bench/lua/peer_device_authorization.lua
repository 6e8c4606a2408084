-- peer: the RFC 8628 device authorization request, POST with the public
-- client's id (BENCH_PATH is the peer's endpoint).
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH")
wrk.body = "client_id=bench"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
