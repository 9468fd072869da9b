-- wrk script for bench/run.sh: POST /introspect (RFC 7662) of live access tokens.
--
-- Environment (bench/run.sh sets both):
--   BENCH_AUTHORIZATION  "Basic base64(client_id:client_secret)" of a client created with
--                        can_introspect (it may introspect every client's tokens)
--   BENCH_TOKENS_FILE    one access token a line (bench/seed_families.py prime)
-- Each thread cycles through all the tokens, starting at a different one.
--
-- An inactive answer is 200 {"active":false}, so the status alone proves nothing: done()
-- prints "non-200 responses" and "responses not active"; both must be 0.

local authorization = os.getenv("BENCH_AUTHORIZATION")
local tokens_file = os.getenv("BENCH_TOKENS_FILE")
if authorization == nil or authorization == "" or tokens_file == nil or tokens_file == "" then
  error("BENCH_AUTHORIZATION and BENCH_TOKENS_FILE must be set; run bench/run.sh")
end

wrk.method = "POST"
wrk.path = "/introspect"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = authorization

local bodies = {}
local file = assert(io.open(tokens_file, "r"))
for line in file:lines() do
  if line ~= "" then
    -- A JWS is base64url and dots: nothing to form-encode.
    table.insert(bodies, "token=" .. line)
  end
end
file:close()
if #bodies == 0 then
  error("no access tokens in " .. tokens_file)
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("next_body", #threads)
end

next_body = 1
non200 = 0
inactive = 0
first_error = ""

function request()
  local body = bodies[(next_body - 1) % #bodies + 1]
  next_body = next_body + 1
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  elseif string.find(body or "", '"active":true', 1, true) == nil then
    inactive = inactive + 1
  else
    return
  end
  if first_error == "" then
    local text = string.gsub(string.sub(body or "", 1, 200), "%s+", " ")
    first_error = tostring(status) .. " " .. text
  end
end

function done(summary, latency, requests)
  local total_non200, total_inactive = 0, 0
  local example = ""
  for _, thread in ipairs(threads) do
    total_non200 = total_non200 + (thread:get("non200") or 0)
    total_inactive = total_inactive + (thread:get("inactive") or 0)
    local error_text = thread:get("first_error") or ""
    if example == "" and error_text ~= "" then
      example = error_text
    end
  end
  io.write(string.format("non-200 responses: %d\n", total_non200))
  io.write(string.format("responses not active: %d\n", total_inactive))
  if example ~= "" then
    io.write("first bad response: " .. example .. "\n")
  end
end
