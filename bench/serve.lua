-- wrk script for bench/serve.sh: POSTs one body again and again to /v1/classify, and ends
-- with one machine-readable line of what happened.
--   SHELF_BODY   file holding the JSON body (one product: a title, or a title and a photo
--                as image_base64)
--   SHELF_TOKEN  bearer token, when the server wants one
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("SHELF_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
local f = assert(io.open(assert(os.getenv("SHELF_BODY"), "SHELF_BODY is not set"), "rb"))
wrk.body = f:read("*a")
f:close()

done = function(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.1f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "socket_errors=%d non2xx=%d\n",
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
