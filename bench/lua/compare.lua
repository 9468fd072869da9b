-- wrk script for bench/compare.py: one endpoint of either server, set by the environment.
--
--   BENCH_METHOD         GET or POST (default GET)
--   BENCH_BODY           the form body of every request (default none)
--   BENCH_AUTHORIZATION  the Authorization header value, e.g. "Basic ..." (default none)
--   BENCH_TOKENS_FILE    one token a line; each request carries the next one (each thread
--                        starts at a different one), as BENCH_TOKEN_IN says:
--   BENCH_TOKEN_IN       "body": the body is "token=<token>" (introspection);
--                        "bearer": "Authorization: Bearer <token>" (userinfo)
--   BENCH_EXPECT         a text every 2xx body must contain, e.g. '"active":true'
--
-- A 200 {"active":false} or an error answer is not throughput: done() prints one line
-- "compare.lua {json}" with the counts of non-2xx responses and of 2xx bodies without
-- BENCH_EXPECT, wrk's socket errors and the latency percentiles (microseconds); the driver
-- fails the run unless every count is 0.

local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY") or ""
local authorization = os.getenv("BENCH_AUTHORIZATION") or ""
local tokens_file = os.getenv("BENCH_TOKENS_FILE") or ""
local token_in = os.getenv("BENCH_TOKEN_IN") or ""
local expect = os.getenv("BENCH_EXPECT") or ""

wrk.method = method
if body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
if authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end

local tokens = {}
if tokens_file ~= "" then
  local file = assert(io.open(tokens_file, "r"))
  for line in file:lines() do
    if line ~= "" then
      table.insert(tokens, line)
    end
  end
  file:close()
  if #tokens == 0 then
    error("no tokens in " .. tokens_file)
  end
  if token_in ~= "body" and token_in ~= "bearer" then
    error("BENCH_TOKEN_IN must be body or bearer, not '" .. token_in .. "'")
  end
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("next_request", #threads)
end

next_request = 1
non2xx = 0
unexpected = 0
first_bad = ""

-- One request text per token, made once per thread (wrk.format copies the headers).
local requests = {}

local function copy_headers()
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  return headers
end

function init(args)
  for _, token in ipairs(tokens) do
    local headers = copy_headers()
    if token_in == "body" then
      -- Tokens are base64url (and dots): nothing to form-encode.
      headers["Content-Type"] = "application/x-www-form-urlencoded"
      table.insert(requests, wrk.format(nil, nil, headers, "token=" .. token))
    else
      headers["Authorization"] = "Bearer " .. token
      table.insert(requests, wrk.format(nil, nil, headers, nil))
    end
  end
end

function request()
  if #requests == 0 then
    return wrk.format()
  end
  local text = requests[(next_request - 1) % #requests + 1]
  next_request = next_request + 1
  return text
end

function response(status, headers, response_body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  elseif expect ~= "" and string.find(response_body or "", expect, 1, true) == nil then
    unexpected = unexpected + 1
  else
    return
  end
  if first_bad == "" then
    local text = string.gsub(string.sub(response_body or "", 1, 200), "%s+", " ")
    first_bad = tostring(status) .. " " .. text
  end
end

function done(summary, latency, _)
  local total_non2xx, total_unexpected, example = 0, 0, ""
  for _, thread in ipairs(threads) do
    total_non2xx = total_non2xx + (thread:get("non2xx") or 0)
    total_unexpected = total_unexpected + (thread:get("unexpected") or 0)
    local text = thread:get("first_bad") or ""
    if example == "" and text ~= "" then
      example = text
    end
  end
  local errors = summary.errors
  io.write(string.format(
    'compare.lua {"requests": %d, "duration_us": %d, "non_2xx": %d, "unexpected_bodies": %d, '
      .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
      .. '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
    summary.requests, summary.duration, total_non2xx, total_unexpected,
    errors.connect, errors.read, errors.write, errors.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  if example ~= "" then
    io.write("first bad response: " .. example .. "\n")
  end
end
