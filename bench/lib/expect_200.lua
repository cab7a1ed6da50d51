-- Shared by every wrk script of the harness: counts the responses whose status
-- is not 200 and, when wrk is done, prints one line that bench/run.sh reads:
--
--   bench-check: requests=N non200=N first_status=S connect=N read=N write=N timeout=N
--
-- A run with any non-200 response or socket error is reported as an error by
-- run.sh: its req/s would not measure the path the scenario is about.
--
-- wrk gives each thread its own Lua state, so the counters live in each
-- thread's state and done() (run in the main state) adds them up through the
-- thread objects that setup() kept.
--
-- Load it from a scenario script with:
--   local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
--   dofile(dir .. "lib/expect_200.lua")

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   non200 = 0
   first_status = 0
end

function response(status, headers, body)
   if status ~= 200 then
      non200 = non200 + 1
      if first_status == 0 then
         first_status = status
      end
   end
end

function done(summary, latency, requests)
   local bad, first = 0, 0
   for _, thread in ipairs(threads) do
      bad = bad + (thread:get("non200") or 0)
      local status = thread:get("first_status") or 0
      if first == 0 then
         first = status
      end
   end
   local e = summary.errors
   io.write(string.format(
      "bench-check: requests=%d non200=%d first_status=%d connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, bad, first, e.connect, e.read, e.write, e.timeout))
end
