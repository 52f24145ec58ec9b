--[[
  Takes a running-chunk slot of a tenant for one chunk attempt, if the tenant runs fewer than its share:
  leases that ran out (their worker died or froze) are dropped first, so their slots come back. Taking a
  slot the attempt already holds renews it. Times come from Redis' clock, never a worker's.
  KEYS[1] the tenant's running chunks (zset: attempt → lease expiry, ms)
  ARGV[1] attempt member, ARGV[2] share (most slots), ARGV[3] lease ms
  Replies 1 (taken) or 0 (the tenant is at its share).
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
-- The set goes when its last lease would (workers may run with different lease lengths).
redis.call('PEXPIREAT', KEYS[1], redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
return 1
