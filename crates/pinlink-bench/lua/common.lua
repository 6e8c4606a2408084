-- Shared by every pinlink-bench scenario (the bench prepends it to the
-- scenario's own script). It prints one machine-readable line at the end,
-- which the bench parses; wrk's own report goes to the same output.

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

-- Reads a file of lines into a table (the bench writes one entry per line).
function read_lines(path)
  local lines = {}
  local file = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  for line in file:lines() do
    if line ~= "" then
      lines[#lines + 1] = line
    end
  end
  file:close()
  -- What was read is kept for the whole run: collect what reading left
  -- over now, not in the middle of the measurement.
  collectgarbage("collect")
  return lines
end

-- A client address for a request (the scenarios "as operators run it"):
-- one of 198.18.0.0/15's 131 072, drawn at random, sent as X-Forwarded-For
-- to a server that trusts 127.0.0.1 as its proxy.
function random_forwarded_for()
  local a = math.random(0, 131071)
  return "198." .. (18 + math.floor(a / 65536)) .. "." ..
    (math.floor(a / 256) % 256) .. "." .. (a % 256)
end

-- Pending codes to link, from the file BENCH_CODES: thread k of n takes
-- codes k+1, k+1+n, ... and stops when its share runs out (reported as
-- "ran_out": the figure is then a lower bound). next_code() gives the next
-- one and its place in the file.
local codes, next_index, step

function read_codes()
  codes = read_lines(os.getenv("BENCH_CODES"))
  next_index = wrk.thread:get("index") + 1
  step = tonumber(os.getenv("BENCH_THREADS"))
  wrk.thread:set("ran_out", 0)
end

function next_code()
  local index = next_index
  local code = codes[index]
  if code == nil then
    wrk.thread:set("ran_out", 1)
    wrk.thread:stop()
    code = codes[1]
  end
  next_index = next_index + step
  return code, index
end

-- wrk counts answers of 400 and above as errors. A scenario whose right
-- answer is one of those (a peer's pending token poll is a 400) sets
-- BENCH_EXPECTED_STATUS: then every answer is checked against it instead,
-- which costs wrk a little per answer (so only where needed).
local expected_status = tonumber(os.getenv("BENCH_EXPECTED_STATUS") or "")
if expected_status then
  unexpected = 0
  function response(status, headers, body)
    if status ~= expected_status then
      unexpected = unexpected + 1
    end
  end
end

-- For a scenario whose right answer is 201 and whose 503 is the server
-- refusing as designed (a cap, busy password checks; with
-- BENCH_EXPECTED_STATUS=201 set by the bench): refusals are counted apart,
-- anything else but 201 is an error.
function created_or_refused()
  refused = 0
  function response(status, headers, body)
    if status == 503 then
      refused = refused + 1
    elseif status ~= 201 then
      unexpected = unexpected + 1
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local ran_out, unexpected_answers, refused_answers = 0, 0, 0
  for _, t in ipairs(threads) do
    ran_out = ran_out + (t:get("ran_out") or 0)
    unexpected_answers = unexpected_answers + (t:get("unexpected") or 0)
    refused_answers = refused_answers + (t:get("refused") or 0)
  end
  local status_errors = e.status
  if expected_status then
    status_errors = unexpected_answers
  end
  io.write(string.format(
    'PINLINK-BENCH {"requests":%d,"duration_us":%d,"errors":%d,"status_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d,"ran_out":%d,"refused":%d}\n',
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout + status_errors, status_errors,
    latency:percentile(50), latency:percentile(99), ran_out, refused_answers))
end
