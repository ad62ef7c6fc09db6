-- POST /contacts/contacts/search/mobile with a random existing number (seeded 555XXXXXXX).
local n = tonumber(os.getenv("BENCH_COUNT") or "1000000")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = os.getenv("BENCH_KEY")
request = function()
  local body = string.format('{"mobile_phone":"555%07d"}', math.random(0, n - 1))
  return wrk.format(nil, "/contacts/contacts/search/mobile", nil, body)
end
