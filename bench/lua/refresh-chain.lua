-- POST refresh tokens the way a client does: each wrk thread holds one
-- connection and one session, and sends the refresh token the previous answer
-- gave it, so every request rotates (a write), none is a grace repeat.
-- BENCH_REFRESH_TOKENS: one token per thread, space-separated (run with -t = -c).
-- BENCH_REFRESH_FORM=1: the OAuth token endpoint's form body, with BENCH_CLIENT_BASIC.
local tokens = {}
for token in string.gmatch(os.getenv("BENCH_REFRESH_TOKENS"), "%S+") do tokens[#tokens + 1] = token end
local form = os.getenv("BENCH_REFRESH_FORM") == "1"
local next_thread = 1

function setup(thread)
  thread:set("token", tokens[next_thread])
  next_thread = next_thread + 1
end

function request()
  if form then
    return wrk.format("POST", nil, { ["content-type"] = "application/x-www-form-urlencoded", ["authorization"] = "Basic " .. os.getenv("BENCH_CLIENT_BASIC") },
      "grant_type=refresh_token&refresh_token=" .. token)
  end
  return wrk.format("POST", nil, { ["content-type"] = "application/json" }, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local next_token = string.match(body, '"refresh_token":"([^"]+)"')
  if status == 200 and next_token then token = next_token end
end
