-- GET /contacts/contacts/external/EXT-<n> for a random existing contact.
local n = tonumber(os.getenv("BENCH_COUNT") or "1000000")
wrk.headers["x-api-key"] = os.getenv("BENCH_KEY")
request = function()
  return wrk.format("GET", string.format("/contacts/contacts/external/EXT-%d", math.random(0, n - 1)))
end
