-- POST /api/v1/auth/refresh with one refresh token (BENCH_REFRESH); the server
-- runs with a refresh grace so repeats are answered instead of treated as reuse.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"refresh_token":"' .. os.getenv("BENCH_REFRESH") .. '"}'
