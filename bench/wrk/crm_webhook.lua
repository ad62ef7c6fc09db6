-- POST /api/webhook/crm (AgentVoice): a delivery of a new CRM contact per request (an upsert that
-- creates: the same work as a WebFones create, plus the CRM-identity lookup).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = os.getenv("BENCH_KEY")
wrk.headers["x-organization-id"] = os.getenv("BENCH_ORG")
local i = tonumber(os.getenv("BENCH_START") or "0")
request = function()
  i = i + 1
  return wrk.format(nil, "/api/webhook/crm", nil,
    string.format('{"source":"bench","data":{"crm_id":"W%d","firstName":"New","lastName":"C%d","phone":"888%07d"}}',
                  i, i, i % 10000000))
end
