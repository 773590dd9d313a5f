-- wrk script for bench/pastebin/run.py. Two modes, chosen by the arguments after `--`:
--   read PATHS_FILE            GET the paths in PATHS_FILE (one a line), cycling through them
--   create BODY_FILE SALT      POST /api/v1/paste with BODY_FILE's JSON, its @@UNIQUE@@ replaced by
--                              SALT-thread-counter, so every request pastes distinct content
-- done() prints one line "WRK_JSON {...}" with the totals and latency percentiles (microseconds).

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

local function read_file(path)
   local handle = assert(io.open(path, "rb"))
   local text = handle:read("*a")
   handle:close()
   return text
end

function init(args)
   mode = args[1]
   counter = 0
   local text = read_file(args[2])
   if mode == "read" then
      paths = {}
      for line in text:gmatch("[^\n]+") do
         paths[#paths + 1] = line
      end
      assert(#paths > 0, "no paths to read")
      counter = id * 37 -- threads start at different pastes
   elseif mode == "create" then
      local first, last = text:find("@@UNIQUE@@", 1, true)
      assert(first, "the body has no @@UNIQUE@@ mark")
      head, tail = text:sub(1, first - 1), text:sub(last + 1)
      salt = args[3] or "run"
      wrk.headers["Content-Type"] = "application/json"
   else
      error("mode must be read or create, not " .. tostring(mode))
   end
end

function request()
   counter = counter + 1
   if mode == "read" then
      return wrk.format("GET", paths[counter % #paths + 1])
   end
   local unique = salt .. "-" .. id .. "-" .. counter
   return wrk.format("POST", "/api/v1/paste", nil, head .. unique .. tail)
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, ' ..
      '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
      '"p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
      summary.requests, summary.duration, summary.bytes, errors.connect, errors.read,
      errors.write, errors.status, errors.timeout, latency:percentile(50),
      latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
