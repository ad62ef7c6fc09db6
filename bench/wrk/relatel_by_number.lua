-- GET /api/v2/contacts/by_number/<n> (Relatel) for a random existing mobile (seeded 555XXXXXXX).
local n = tonumber(os.getenv("BENCH_COUNT") or "1000000")
wrk.headers["x-api-key"] = os.getenv("BENCH_KEY")
request = function()
  return wrk.format("GET", string.format("/api/v2/contacts/by_number/555%07d", math.random(0, n - 1)))
end
