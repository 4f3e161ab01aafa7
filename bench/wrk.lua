-- wrk script for `make bench`: the requests of one case, built once.
-- Arguments (after --): METHOD PATH BODY|- [HEADER VALUE]...
-- A header value ending in "@lines:FILE" stands for one request per line of FILE, with the
-- line in its place (for example "Bearer @lines:tokens.txt"); the requests are sent in turn.
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
  local cycled = nil
  for i = 4, #args, 2 do
    local prefix, file = string.match(args[i + 1], "^(.-)@lines:(.+)$")
    if file then
      cycled = { name = args[i], prefix = prefix, file = file }
    else
      headers[args[i]] = args[i + 1]
    end
  end
  prepared = {}
  if cycled then
    for line in io.lines(cycled.file) do
      headers[cycled.name] = cycled.prefix .. line
      table.insert(prepared, wrk.format(method, path, headers, body))
    end
  else
    table.insert(prepared, wrk.format(method, path, headers, body))
  end
  next_request = 0
  sent = 0
end

function request()
  sent = sent + 1
  next_request = next_request % #prepared + 1
  return prepared[next_request]
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
