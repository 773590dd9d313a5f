-- wrk script for bench/shortener/run.py: every request GETs a short code picked at random.
--
--   [BENCH_RATE=R BENCH_THREADS=T] wrk ... URL -- PATHS_FILE AGENTS_FILE
--
-- PATHS_FILE holds the paths (one a line, "/<code>"), AGENTS_FILE the User-Agent strings the requests
-- rotate through. With BENCH_RATE > 0 in the environment the run is paced at R requests/s in all
-- (R / T per thread) through wrk's delay(), which is only defined then (wrk decides once, for the
-- whole run, whether the script has one; a delay() returning 0 would still cost a timer per request).
-- Paced, each thread hands out send times on a fixed grid, one slot per
-- request, to whichever of its connections asks next. A connection still waiting for its last answer
-- cannot take a slot, so when the server stalls the slots pile up and are sent late (counted as
-- "late"); wrk times each request from when it was written, not from its slot.
--
-- done() prints one line "WRK_JSON {...}": totals, requests generated ("sent": answered plus those in
-- flight when wrk stopped), late sends and latency percentiles (microseconds).

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local clock = ffi.new("bench_timespec")

local function now_ms()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
   return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local threads = {}
rate = tonumber(os.getenv("BENCH_RATE") or "0") or 0

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

local function lines_of(path)
   local handle = assert(io.open(path, "rb"))
   local found = {}
   for line in handle:read("*a"):gmatch("[^\n]+") do
      found[#found + 1] = line
   end
   handle:close()
   return found
end

function init(args)
   local paths = lines_of(args[1])
   local agents = lines_of(args[2])
   assert(#paths > 0, "no paths")
   assert(#agents > 0, "no user agents")
   -- Formatted once: building a request per call would cost wrk CPU that the servers share.
   prepared = {}
   for index, path in ipairs(paths) do
      prepared[index] = wrk.format("GET", path, { ["User-Agent"] = agents[index % #agents + 1] })
   end
   count = #prepared
   math.randomseed(1000003 * (id + 1) + os.time())
   sent = 0
   late = 0
   if rate > 0 then
      interval_ms = tonumber(os.getenv("BENCH_THREADS") or "1") * 1000 / rate
      next_slot_ms = nil
   end
end

local function paced_delay()
   local now = now_ms()
   if next_slot_ms == nil then
      next_slot_ms = now + math.random() * interval_ms -- threads start out of step
   end
   local slot = next_slot_ms
   next_slot_ms = next_slot_ms + interval_ms
   local wait = slot - now
   if wait < -1 then
      late = late + 1
   end
   if wait <= 0 then
      return 0
   end
   return math.floor(wait + 0.5) -- wrk's timers have millisecond resolution
end

if rate > 0 then
   delay = paced_delay -- unpaced, wrk sends the next request as soon as the answer is in
end

function request()
   sent = sent + 1
   return prepared[math.random(count)]
end

function done(summary, latency, requests)
   local total_sent, total_late = 0, 0
   for _, thread in ipairs(threads) do
      total_sent = total_sent + (thread:get("sent") or 0)
      total_late = total_late + (thread:get("late") or 0)
   end
   local errors = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "sent": %d, "late": %d, "duration_us": %d, "bytes": %d, ' ..
      '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "status_errors": %d, ' ..
      '"timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
      summary.requests, total_sent, total_late, summary.duration, summary.bytes, errors.connect,
      errors.read, errors.write, errors.status, errors.timeout, latency:percentile(50),
      latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
