-- GET /oauth/authorize with a live browser session (BENCH_SESSION_COOKIE) for a first-party client:
-- each request is answered 303 to the client's redirect URI with a new code (BENCH_AUTHORIZE_QUERY).
wrk.path = "/oauth/authorize?" .. os.getenv("BENCH_AUTHORIZE_QUERY")
wrk.headers["cookie"] = "usersvc_session=" .. os.getenv("BENCH_SESSION_COOKIE")
