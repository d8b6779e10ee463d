-- POST /api/v1/users with a new user each time (thread id + counter keep them unique).
local counter = 0
-- Each wrk thread has its own Lua state: a table's address tells them apart.
local id = tostring({}):match("0x(%x+)") or tostring(os.time())
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
request = function()
  counter = counter + 1
  local name = "b" .. id .. "_" .. counter
  wrk.body = '{"email":"' .. name .. '@bench.example","username":"' .. name .. '","password":"correct horse battery staple"}'
  return wrk.format(nil, "/api/v1/users")
end
