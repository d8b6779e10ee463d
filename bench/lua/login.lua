-- POST /api/v1/auth/login with the bench user's credentials (BENCH_EMAIL).
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"email":"' .. os.getenv("BENCH_EMAIL") .. '","password":"correct horse battery staple"}'
