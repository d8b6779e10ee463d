-- GET with a random one of BENCH_TOKENS (access tokens, space-separated) as the bearer, and the headers a
-- proxy sends to forward auth (ignored by other routes).
local tokens = {}
for token in string.gmatch(os.getenv("BENCH_TOKENS"), "%S+") do tokens[#tokens + 1] = token end
math.randomseed(os.time() + math.floor(os.clock() * 1000000))

function request()
  return wrk.format("GET", nil, {
    ["authorization"] = "Bearer " .. tokens[math.random(#tokens)],
    ["x-forwarded-proto"] = "https",
    ["x-forwarded-host"] = "app.bench.example",
    ["x-forwarded-uri"] = "/dashboard",
  })
end
