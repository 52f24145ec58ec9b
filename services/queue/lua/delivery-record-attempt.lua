--[[
  Records only the next attempt of a pending delivery.
  KEYS[1] delivery, KEYS[2] attempts
  ARGV[1] attempt number, ARGV[2] attempt JSON, ARGV[3] status, ARGV[4] updatedAt, ARGV[5] nextAttemptAt or ''
  Replies 1 when recorded, else 0.
]]
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 0 end
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[1]) - 1 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'updatedAt', ARGV[4])
if ARGV[5] == '' then
  redis.call('HDEL', KEYS[1], 'nextAttemptAt')
else
  redis.call('HSET', KEYS[1], 'nextAttemptAt', ARGV[5])
end
return 1
