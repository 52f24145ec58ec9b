--[[
  Makes the delivery pending with a fresh schedule starting at its next attempt (a manual retry).
  KEYS[1] delivery, KEYS[2] attempts
  ARGV[1] now
  Replies that attempt's number, or nil when there is no such delivery.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local next = redis.call('LLEN', KEYS[2]) + 1
redis.call('HSET', KEYS[1], 'status', 'pending', 'updatedAt', ARGV[1], 'nextAttemptAt', ARGV[1], 'scheduleFrom', next)
return next
