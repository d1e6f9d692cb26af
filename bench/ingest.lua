-- wrk script for bench/ingest.py: one POST per request, each with a body of its own.
--
--   wrk -s bench/ingest.lua URL -- KIND SITE_KEY RUN_ID UNIQUE|DUPLICATE [close]
--
-- KIND "feedback" sends a typo report to /api/v1/reports (also what the bare endpoint
-- parses); KIND "isso" sends a comment to Isso's /new. UNIQUE gives every request its own
-- quote (run id, thread, counter), DUPLICATE sends one quote on one page again and again.
-- "close" asks for a new connection per request. The summary is printed as one JSON line
-- starting with BENCH.

local thread_count = 0
local threads = {}

function setup(thread)
   thread_count = thread_count + 1
   thread:set("tid", thread_count)
   table.insert(threads, thread)
end

local kind, site, run, unique
local n = 0
local headers = {}

function init(args)
   kind, site, run = args[1], args[2], args[3]
   unique = args[4] ~= "DUPLICATE"
   headers["Content-Type"] = "application/json"
   headers["Origin"] = "https://bench.example"
   headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) bench/ingest"
   if args[5] == "close" then
      headers["Connection"] = "close"
   end
end

local FEEDBACK = '{"site":"%s","kind":"typo","url":"https://bench.example/news/%d?utm_source=bench",'
   .. '"title":"A benchmark article","lang":"en","quote":{"exact":"%s",'
   .. '"prefix":"The quick brown fox jumps over the ","suffix":" lazy dog and runs away into the forest."},'
   .. '"suggestion":"word","comment":"Looks like a typo to me."}'

local ISSO = '{"text":"Looks like a typo: %s, in the quick brown fox.","author":"Bench",'
   .. '"email":null,"website":null,"parent":null,"title":"A benchmark article"}'

function request()
   n = n + 1
   local word, page = "wrod", 0
   if unique then
      word = string.format("wrod-%s-%d-%d", run, tid, n)
      page = n % 50
   end
   if kind == "isso" then
      local path = string.format("/new?uri=%%2Fnews%%2F%d", page)
      return wrk.format("POST", path, headers, string.format(ISSO, word))
   end
   return wrk.format("POST", "/api/v1/reports", headers, string.format(FEEDBACK, site, page, word))
end

function done(summary, latency, requests)
   io.write(string.format(
      'BENCH {"requests":%d,"duration_us":%d,"non_2xx":%d,"connect_errors":%d,'
         .. '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
         .. '"max_us":%d}\n',
      summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
      summary.errors.read, summary.errors.write, summary.errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
