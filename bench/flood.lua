-- wrk script for bench/flood.py: a flood of reports, each from the address a proxy would
-- put in X-Forwarded-For, stopping after a fixed number of answers.
--
--   wrk -t THREADS -s bench/flood.lua URL -- SITE_KEY WORD MODE COUNT THREADS [ADDRESS]
--
-- MODE "one" sends every report from ADDRESS; "packed" from as many addresses as reports,
-- 250 to a /24; "spread" from addresses drawn at random over the public IPv4 space;
-- "repeat" likewise, but each address sends ten reports one after the other. Each
-- report has a quote of its own. Every thread stops after its share of COUNT answers and
-- says so on a line of its own.
-- The summary is printed as one JSON line starting with FLOOD.

local threads = {}
local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("tid", thread_count)
   table.insert(threads, thread)
end

local site, word, mode, quota, fixed, nthreads
local sent, answered = 0, 0
-- Globals, so that done() can read each thread's counts with thread:get.
created, limited, other = 0, 0, 0
local headers = {}

local BODY = '{"site":"%s","kind":"typo","url":"https://bench.example/story/%d",'
   .. '"title":"A story","quote":{"exact":"%s-%d-%d","prefix":"the ","suffix":" was"},'
   .. '"suggestion":"word","comment":""}'

function init(args)
   site, word, mode = args[1], args[2], args[3]
   nthreads = tonumber(args[5])
   quota = math.ceil(tonumber(args[4]) / nthreads)
   fixed = args[6]
   math.randomseed(7 + tid)
   headers["Content-Type"] = "application/json"
   headers["Origin"] = "https://bench.example"
end

local current

local function random_address()
   return string.format("%d.%d.%d.%d", math.random(1, 223), math.random(0, 255),
      math.random(0, 255), math.random(1, 254))
end

local function address(n)
   if mode == "one" then
      return fixed
   end
   if mode == "repeat" then
      if (n - 1) % 10 == 0 then
         current = random_address()
      end
      return current
   end
   if mode == "packed" then
      -- Interleave the threads' numbers so that together they cover 0, 1, 2, ...
      local k = (n - 1) * nthreads + (tid - 1)
      return string.format("198.%d.%d.%d", 18 + math.floor(k / 64000),
         math.floor(k / 250) % 256, k % 250 + 1)
   end
   return random_address()
end

function request()
   sent = sent + 1
   headers["X-Forwarded-For"] = address(sent)
   return wrk.format("POST", "/api/v1/reports", headers,
      string.format(BODY, site, sent % 50, word, tid, sent))
end

function response(status, hdrs, body)
   answered = answered + 1
   if status == 201 then
      created = created + 1
   elseif status == 429 then
      limited = limited + 1
   else
      other = other + 1
   end
   if answered == quota then
      -- wrk itself runs for its whole -d: bench/flood.py interrupts it once every
      -- thread has said it is done.
      io.write("THREAD DONE\n")
      io.flush()
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local c, l, o = 0, 0, 0
   for _, thread in ipairs(threads) do
      c = c + thread:get("created")
      l = l + thread:get("limited")
      o = o + thread:get("other")
   end
   io.write(string.format(
      'FLOOD {"answered":%d,"created":%d,"limited":%d,"other":%d,"errors":%d,'
         .. '"duration_us":%d,"p50_us":%d,"p99_us":%d}\n',
      c + l + o, c, l, o,
      summary.errors.connect + summary.errors.read + summary.errors.write
         + summary.errors.timeout,
      summary.duration, latency:percentile(50), latency:percentile(99)))
end
