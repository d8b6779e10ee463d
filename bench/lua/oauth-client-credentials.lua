-- POST /oauth/token: client_credentials for a confidential client (client_secret_basic, BENCH_CLIENT_BASIC).
wrk.method = "POST"
wrk.headers["content-type"] = "application/x-www-form-urlencoded"
wrk.headers["authorization"] = "Basic " .. os.getenv("BENCH_CLIENT_BASIC")
wrk.body = "grant_type=client_credentials"
