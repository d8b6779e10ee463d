-- POST /oauth/token: refresh_token with one refresh token of a grant (BENCH_OAUTH_REFRESH); the server
-- runs with a refresh grace, so repeats are answered instead of treated as reuse (as refresh.lua).
wrk.method = "POST"
wrk.headers["content-type"] = "application/x-www-form-urlencoded"
wrk.headers["authorization"] = "Basic " .. os.getenv("BENCH_CLIENT_BASIC")
wrk.body = "grant_type=refresh_token&refresh_token=" .. os.getenv("BENCH_OAUTH_REFRESH")
