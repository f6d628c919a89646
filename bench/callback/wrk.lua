-- wrk script for bench/callback: every request a WeChat text message with a MsgId of its own (a dedup miss:
-- the full path), and a summary line for run.ts. Environment: MSGID_BASE (this run's first MsgId, below 2^53),
-- CREATE_TIME, EXPECT_REPLY. Counts per thread (wrk gives each thread its own Lua state): requests built, answers that were
-- not 200, 200s whose body was not `success`.
local base = tonumber(os.getenv("MSGID_BASE") or "1000000000000")
local createTime = os.getenv("CREATE_TIME") or "0"
local head = "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o_bench]]></FromUserName>" ..
  "<CreateTime>" .. createTime .. "</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>"
local tail = "</MsgId></xml>"
local headers = { ["Content-Type"] = "text/xml; charset=utf-8" }
-- EXPECT_REPLY (--reply-hook): every answer is a passive reply with this text instead of `success`.
local expect = os.getenv("EXPECT_REPLY")
local expected = expect and ("<Content><![CDATA[" .. expect .. "]]></Content>") or nil

local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  sent = 0
  non200 = 0
  badbody = 0
end

function request()
  sent = sent + 1
  -- 10^8 ids per thread: unique within a run of fewer than 10^8 requests a thread.
  local id = base + tid * 100000000 + sent
  return wrk.format("POST", nil, headers, head .. string.format("%.0f", id) .. tail)
end

function response(status, hdrs, body)
  if status ~= 200 then
    non200 = non200 + 1
  elseif expected == nil and body ~= "success" then
    badbody = badbody + 1
  elseif expected ~= nil and not string.find(body, expected, 1, true) then
    badbody = badbody + 1
  end
end

function done(summary, latency, requests)
  local s, n, b = 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent")
    n = n + t:get("non200")
    b = b + t:get("badbody")
  end
  local e = summary.errors
  io.write(string.format(
    'JSON {"sent":%d,"non200":%d,"badbody":%d,"requests":%d,"durationUs":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"p50":%d,"p90":%d,"p99":%d,"max":%d}\n',
    s, n, b, summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
