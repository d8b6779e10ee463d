-- GET /api/v1/auth/forward as a proxy asks it for a browser: the bench user's session cookie of a sign-in
-- on the /login page (BENCH_SESSION_COOKIE), beside a cookie of the application's, and the URL asked for.
wrk.headers["cookie"] = "app_theme=dark; usersvc_session=" .. os.getenv("BENCH_SESSION_COOKIE")
wrk.headers["accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
wrk.headers["x-forwarded-proto"] = "https"
wrk.headers["x-forwarded-host"] = "app.bench.example"
wrk.headers["x-forwarded-uri"] = "/dashboard?tab=1"
