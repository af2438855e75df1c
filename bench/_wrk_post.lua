-- wrk script of bench/ingress.py: POST the body in BODY_FILE with a unique Idempotency-Key per request,
-- and print the status counts and latency percentiles as one JSON line at the end.
local counter = 0
local thread_no = 0
local threads = {}
local body = nil

function setup(thread)
  thread_no = thread_no + 1
  thread:set("tid", thread_no)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
  body = f:read("*a")
  f:close()
  statuses = {}
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  local auth = os.getenv("AUTHORIZATION")
  if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
end

function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = string.format("wrk-%d-%d-%d-%d", os.time(), tid, counter, math.random(1e9))
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do counts[k] = (counts[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(counts) do table.insert(parts, string.format('"%d": %d', k, v)) end
  io.write(string.format(
    '{"requests": %d, "duration_s": %f, "socket_errors": %d, "statuses": {%s}, "p50_ms": %f, "p99_ms": %f}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ", "), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
