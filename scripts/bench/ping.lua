-- wrk script: one-ping POST /v1/me/locations requests, round-robin over the
-- technicians' access tokens in $PING_TOKENS (one per line), each ping with
-- a device time no other request of the run uses.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  tokens = {}
  for line in io.lines(os.getenv("PING_TOKENS")) do
    if #line > 0 then table.insert(tokens, line) end
  end
  counter = 0
  -- Device times start three hours ago and step 1 ms per request per
  -- thread (16 threads at most), so nothing is a duplicate.
  base = os.time() - 3 * 3600
end

function request()
  counter = counter + 1
  local token = tokens[(counter * 16 + id) % #tokens + 1]
  local ms = counter * 16 + id
  local stamp = os.date("!%Y-%m-%dT%H:%M:%S", base + math.floor(ms / 1000)) .. string.format(".%03dZ", ms % 1000)
  local body = '{"pings":[{"device_time":"' .. stamp .. '","lat":52.5,"lon":13.4,"accuracy_m":8.0}]}'
  return wrk.format("POST", "/v1/me/locations",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
