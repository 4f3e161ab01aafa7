-- wrk script for `make bench`: one fixed request per case, built once.
-- Arguments (after --): METHOD PATH BODY|- [HEADER VALUE]...
-- Prints one JSON line: completed and sent requests, non-2xx count, socket errors and latency
-- percentiles in microseconds. `sent` lets the benchmark compare what it sent with the
-- service's own histogram count.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local method, path, body = args[1], args[2], args[3]
  if body == "-" then body = nil end
  local headers = {}
  for i = 4, #args, 2 do
    headers[args[i]] = args[i + 1]
  end
  prepared = wrk.format(method, path, headers, body)
  sent = 0
end

function request()
  sent = sent + 1
  return prepared
end

function done(summary, latency, requests)
  local total_sent = 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + thread:get("sent")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"sent":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,' ..
    '"p50":%d,"p99":%d,"p999":%d}\n',
    summary.requests, total_sent, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
