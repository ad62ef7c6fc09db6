-- POST /contacts/contacts/search/mobile/like with a random 5-digit substring.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = os.getenv("BENCH_KEY")
request = function()
  local body = string.format('{"mobile_phone":"%05d"}', math.random(0, 99999))
  return wrk.format(nil, "/contacts/contacts/search/mobile/like", nil, body)
end
