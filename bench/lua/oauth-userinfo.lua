-- GET /oauth/userinfo with a client's access token of the bench user (BENCH_OAUTH_TOKEN).
wrk.headers["authorization"] = "Bearer " .. os.getenv("BENCH_OAUTH_TOKEN")
