-- POST /api/v1/auth/login as a random one of the scale bench's seeded users:
-- user<g>@example<g % 50>.com for g in 1..BENCH_USERS, skipping the blocked (g % 20 == 0) and deleted (g % 33 == 0).
local users = tonumber(os.getenv("BENCH_USERS"))
math.randomseed(os.time() + math.floor(os.clock() * 1000000))

function request()
  local g
  repeat g = math.random(1, users) until g % 20 ~= 0 and g % 33 ~= 0
  return wrk.format("POST", nil, { ["content-type"] = "application/json" },
    '{"email":"user' .. g .. '@example' .. (g % 50) .. '.com","password":"correct horse battery staple"}')
end
