-- wrk script for bench/run.sh: POST /token with the client_credentials grant.
--
-- BENCH_AUTHORIZATION holds the whole Authorization header value
-- ("Basic base64(client_id:client_secret)"); bench/run.sh sets it, so this file
-- stays static. Responses other than 200 are counted and printed by done(), so
-- a run that only measured errors cannot pass for throughput.

local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization == nil or authorization == "" then
  error("BENCH_AUTHORIZATION is not set; run bench/run.sh")
end

wrk.method = "POST"
wrk.path = "/token"
wrk.body = "grant_type=client_credentials&scope=bench:read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = authorization

-- Every thread runs in its own Lua state; done() reads their counters via thread:get.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

non200 = 0
first_error = ""

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    if first_error == "" then
      local text = string.gsub(string.sub(body or "", 1, 200), "%s+", " ")
      first_error = tostring(status) .. " " .. text
    end
  end
end

function done(summary, latency, requests)
  local total = 0
  local example = ""
  for _, thread in ipairs(threads) do
    total = total + (thread:get("non200") or 0)
    local error_text = thread:get("first_error") or ""
    if example == "" and error_text ~= "" then
      example = error_text
    end
  end
  io.write(string.format("non-200 responses: %d\n", total))
  if example ~= "" then
    io.write("first non-200 response: " .. example .. "\n")
  end
end
