-- GET /callerid as the dialplan asks it: extension 309 called by a seeded number (555XXXXXXX).
-- BENCH_DISTINCT numbers in all (default: every seeded contact's): a few thousand are the
-- customers and colleagues who call again, which a lookup cache answers from memory.
local n = tonumber(os.getenv("BENCH_DISTINCT") or os.getenv("BENCH_COUNT") or "1000000")
local token = os.getenv("BENCH_TOKEN")
request = function()
  return wrk.format("GET", string.format("/callerid?token=%s&called=309&number=555%07d",
                                         token, math.random(0, n - 1)))
end
