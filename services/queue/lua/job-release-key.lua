--[[
  Drops an idempotency key whose job is gone (deleted, or lost with part of the data).
  KEYS[1] idempotency key
  ARGV[1] id of the job the key points to
  Replies 0.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
