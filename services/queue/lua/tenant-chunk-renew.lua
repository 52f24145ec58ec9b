--[[
  Renews a running chunk attempt's lease. A lease that ran out meanwhile (the worker's event loop stalled
  past it) is written again: the attempt still runs, so it still counts against the tenant's share.
  KEYS[1] the tenant's running chunks (zset: attempt → lease expiry, ms)
  ARGV[1] attempt member, ARGV[2] lease ms
  Replies 1 when the lease was still there, 0 when it had to be written again.
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
-- The set goes when its last lease would (workers may run with different lease lengths).
redis.call('PEXPIREAT', KEYS[1], redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
if held and tonumber(held) > now then return 1 end
return 0
