-- POST /contacts/contacts: a new contact per request (numbers 777XXXXXXX, unique within a run).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = os.getenv("BENCH_KEY")
local i = tonumber(os.getenv("BENCH_START") or "0")
request = function()
  i = i + 1
  return wrk.format(nil, "/contacts/contacts", nil,
    string.format('{"firstname":"New","lastname":"C%d","mobile_phone":"777%07d"}', i, i % 10000000))
end
