-- GET /api/contacts/crm/lookup (AgentVoice) for a random existing CRM id (seeded CRM-<n>).
local n = tonumber(os.getenv("BENCH_COUNT") or "1000000")
wrk.headers["x-api-key"] = os.getenv("BENCH_KEY")
wrk.headers["x-organization-id"] = os.getenv("BENCH_ORG")
request = function()
  return wrk.format("GET", string.format("/api/contacts/crm/lookup?crm_id=CRM-%d&crm_source=salesforce",
                                         math.random(0, n - 1)))
end
