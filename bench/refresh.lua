-- wrk script for bench/run.sh: refresh token rotations, POST /token grant_type=refresh_token.
--
-- Every rotation consumes the presented token and answers a new one, so the requests
-- form chains: a token is sent once, and the refresh_token of its response is the next
-- one sent. wrk calls request() and response() per thread, not per connection, so each
-- thread keeps a queue of live tokens: request() takes the oldest, response() appends
-- the new one. Each connection has at most one request in flight, so with one token
-- per connection the queue would never run dry while every chain holds.
--
-- Each thread gets one token more than it has connections: wrk 4.1 calls request()
-- once on the first thread's Lua state before the run, only to check the request's
-- syntax, and that token is taken but never sent (older wrk makes that call on the
-- main state instead, where there are no tokens). The spare token just waits its turn
-- in the queue.
--
-- If a chain breaks (an error answer, a connection lost with its token in flight),
-- request() may find the queue empty; it then sends a token that cannot exist, whose
-- answer is a 400, counted like any other. bench/run.sh also checks in the database
-- afterwards that no family was revoked (a replay) and that the rotations stored
-- match the 200s counted here.
--
-- Environment (bench/run.sh sets both):
--   BENCH_AUTHORIZATION  "Basic base64(client_id:client_secret)" of the refresh client
--   BENCH_TOKENS_FILE    one refresh token a line: connections + threads of them
-- Argument (after --): the thread count. Token i of the file goes to thread i mod threads,
-- the same split as wrk's connections (-c must be a multiple of -t).
--
-- done() prints "non-200 responses", "responses without a refresh_token" and
-- "requests without a live token", which must all be 0, and "rotations answered".

local authorization = os.getenv("BENCH_AUTHORIZATION")
local tokens_file = os.getenv("BENCH_TOKENS_FILE")
if authorization == nil or authorization == "" or tokens_file == nil or tokens_file == "" then
  error("BENCH_AUTHORIZATION and BENCH_TOKENS_FILE must be set; run bench/run.sh")
end

wrk.method = "POST"
wrk.path = "/token"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = authorization

-- setup() runs in the main Lua state, once per thread, before the thread starts.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_index", #threads - 1)
end

-- Per thread (each has its own Lua state): the queue, and the counters done() reads.
local queue = {}
local head, tail = 1, 0
non200 = 0
rotated = 0
missing_token = 0
starved = 0
first_error = ""
thread_index = nil
initial_tokens = 0

function init(args)
  -- The thread count is only known once every setup() ran; run.sh passes it as an argument.
  local thread_count = tonumber(args[1])
  if thread_count == nil or thread_index == nil then
    error("refresh.lua needs the thread count as its argument: wrk ... -s refresh.lua URL -- THREADS")
  end
  local file = assert(io.open(tokens_file, "r"))
  local i = 0
  for line in file:lines() do
    if line ~= "" then
      if i % thread_count == thread_index then
        tail = tail + 1
        queue[tail] = line
      end
      i = i + 1
    end
  end
  file:close()
  initial_tokens = tail
end

local function body_for(token)
  return "grant_type=refresh_token&refresh_token=" .. token
end

function request()
  local token
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  else
    -- Only when a chain broke (or in wrk's trial call of request() on the main state).
    if thread_index ~= nil then
      starved = starved + 1
    end
    token = "no-live-token-left"
  end
  return wrk.format(nil, nil, nil, body_for(token))
end

function response(status, headers, body)
  if status == 200 then
    local token = string.match(body or "", '"refresh_token":"([^"]+)"')
    if token ~= nil then
      tail = tail + 1
      queue[tail] = token
      rotated = rotated + 1
      return
    end
    missing_token = missing_token + 1
  else
    non200 = non200 + 1
  end
  if first_error == "" then
    local text = string.gsub(string.sub(body or "", 1, 200), "%s+", " ")
    first_error = tostring(status) .. " " .. text
  end
end

function done(summary, latency, requests)
  local total_non200, total_missing, total_starved, total_initial, total_rotated = 0, 0, 0, 0, 0
  local example = ""
  for _, thread in ipairs(threads) do
    total_non200 = total_non200 + (thread:get("non200") or 0)
    total_missing = total_missing + (thread:get("missing_token") or 0)
    total_starved = total_starved + (thread:get("starved") or 0)
    total_initial = total_initial + (thread:get("initial_tokens") or 0)
    total_rotated = total_rotated + (thread:get("rotated") or 0)
    local error_text = thread:get("first_error") or ""
    if example == "" and error_text ~= "" then
      example = error_text
    end
  end
  io.write(string.format("chains started: %d\n", total_initial))
  io.write(string.format("rotations answered: %d\n", total_rotated))
  io.write(string.format("non-200 responses: %d\n", total_non200))
  io.write(string.format("responses without a refresh_token: %d\n", total_missing))
  io.write(string.format("requests without a live token: %d\n", total_starved))
  if example ~= "" then
    io.write("first bad response: " .. example .. "\n")
  end
end
