-- The wrk script of bench/capacity.sh: one request kind, a fixed number of answers. Each
-- thread stops after CAP_QUOTA answers (so a run is N = threads x CAP_QUOTA requests, give or
-- take the few in flight when the last thread stops), counts its answers outside 2xx, and
-- done() prints one line: `capacity REQUESTS DURATION_US NON2XX SOCKET_ERRORS P50_US`.
--
-- Set by environment variables (bench/capacity.sh sets them; not meant to be run alone):
--   CAP_THREADS   wrk's -t (threads are numbered 1..CAP_THREADS)
--   CAP_QUOTA     answers per thread
--   CAP_METHOD, CAP_PATH, CAP_BODY   the request (CAP_BODY optional)
--   CAP_BEARERS   a file of access tokens, one a line: thread i takes lines i, i+T, i+2T, ...
--                 and sends them in turn (one user after the other); with fewer lines than
--                 threads, every thread sends them all
--   CAP_LOGINS    U: the body is a login of capacity-<n>@example.com, n going round 1..U
--                 over all threads; with CAP_SAVE, each answer's refresh token (or, when it
--                 has none, its token) is appended to CAP_SAVE.<thread>
--   CAP_CHAINS    a file of refresh tokens, one a line: thread i takes lines i, i+T, i+2T, ...
--                 and refreshes those sessions in turn, each with the token the session's
--                 previous answer returned (one connection a thread: run with -c equal to -t)
--   CAP_DELAY_MS  milliseconds between one answer and a connection's next request (pacing)
--   CAP_FORWARDED set: each request names a client address of its own in X-Forwarded-For
--                 (10.<thread>.x.y, 65,536 a thread)
--   CAP_DONE      an empty file: each thread that has its answers adds a line, and the last one
--                 sends wrk SIGINT, which ends the run then rather than after its -d

local ffi = require("ffi")
ffi.cdef([[
int kill(int pid, int sig);
int getpid(void);
]])
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

local function lines(path)
  local list = {}
  for line in io.lines(path) do
    if line ~= "" then
      list[#list + 1] = line
    end
  end
  return list
end

if tonumber(os.getenv("CAP_DELAY_MS") or "0") > 0 then
  function delay()
    return tonumber(os.getenv("CAP_DELAY_MS"))
  end
end

function init(args)
  count = tonumber(os.getenv("CAP_THREADS"))
  quota = tonumber(os.getenv("CAP_QUOTA"))
  method = os.getenv("CAP_METHOD")
  path = os.getenv("CAP_PATH")
  body = os.getenv("CAP_BODY")
  logins = tonumber(os.getenv("CAP_LOGINS") or "0")
  forwarded = os.getenv("CAP_FORWARDED")
  answered, bad, sent = 0, 0, 0
  bearers = {}
  if os.getenv("CAP_BEARERS") then
    local all = lines(os.getenv("CAP_BEARERS"))
    for i = id, #all, count do
      bearers[#bearers + 1] = all[i]
    end
    if #bearers == 0 then
      bearers = all -- fewer tokens than threads: each thread sends them all
    end
  end
  if os.getenv("CAP_CHAINS") then
    chains = {}
    local all = lines(os.getenv("CAP_CHAINS"))
    for i = id, #all, count do
      chains[#chains + 1] = all[i]
    end
  end
  if os.getenv("CAP_SAVE") then
    save = io.open(os.getenv("CAP_SAVE") .. "." .. id, "w")
  end
end

function request()
  sent = sent + 1
  local headers = { ["Content-Type"] = "application/json" }
  if #bearers > 0 then
    headers["Authorization"] = "Bearer " .. bearers[(sent - 1) % #bearers + 1]
  end
  if forwarded then
    headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", id, math.floor(sent / 256) % 256, sent % 256)
  end
  local payload = body
  if logins > 0 then
    local n = ((sent - 1) * count + id - 1) % logins + 1
    payload = string.format('{"email":"capacity-%d@example.com","password":"capacity-password"}', n)
  elseif chains then
    current = (sent - 1) % #chains + 1
    payload = '{"refreshToken":"' .. chains[current] .. '"}'
  end
  return wrk.format(method, path, headers, payload)
end

function response(status, headers, answer)
  answered = answered + 1
  if status < 200 or status > 299 then
    bad = bad + 1
  elseif chains then
    chains[current] = answer:match('"refreshToken":"([^"]+)"') or chains[current]
  elseif save then
    local token = answer:match('"refreshToken":"([^"]+)"') or answer:match('"token":"([^"]+)"')
    if token then
      save:write(token, "\n")
    end
  end
  if answered == quota then
    if save then
      save:close()
      save = nil
    end
    wrk.thread:stop()
    local marks = os.getenv("CAP_DONE")
    local file = io.open(marks, "a")
    file:write(id, "\n")
    file:close()
    local finished = 0
    for _ in io.lines(marks) do
      finished = finished + 1
    end
    if finished >= count then
      ffi.C.kill(ffi.C.getpid(), 2)
    end
  end
end

function done(summary, latency, requests)
  local non2xx = 0
  for _, thread in ipairs(threads) do
    non2xx = non2xx + thread:get("bad")
  end
  local errors = summary.errors
  io.write(string.format("capacity %d %d %d %d %d\n",
    summary.requests, summary.duration, non2xx,
    errors.connect + errors.read + errors.write + errors.timeout, latency:percentile(50)))
end
