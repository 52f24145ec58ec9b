--[[
  Creates a delivery unless it exists.
  KEYS[1] the job's delivery index, KEYS[2] delivery, KEYS[3] attempts
  ARGV[1] delivery id, ARGV[2..] field, value, …
  Replies {status, attempts made}.
]]
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], unpack(ARGV, 2))
  redis.call('RPUSH', KEYS[1], ARGV[1])
end
return {redis.call('HGET', KEYS[2], 'status'), redis.call('LLEN', KEYS[3])}
