-- GET /api/v1/users/me with the bench user's access token (BENCH_TOKEN).
wrk.headers["authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
