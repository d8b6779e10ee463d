-- GET /api/v1/auth/forward as a proxy asks it (Traefik, Caddy): the bench user's access token (BENCH_TOKEN)
-- and the URL the client asked the proxy for.
wrk.headers["authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["x-forwarded-proto"] = "https"
wrk.headers["x-forwarded-host"] = "app.bench.example"
wrk.headers["x-forwarded-uri"] = "/dashboard?tab=1"
