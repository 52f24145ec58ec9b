--[[
  Removes a job: its record, chunk bookkeeping, idempotency key (when still its own) and index entries.
  KEYS[1] job, KEYS[2] chunks (before v0.2), KEYS[3] tenant's active set, KEYS[4] tenant's index,
  KEYS[5] global index, KEYS[6] idempotency key (or a key never set), KEYS[7] commits, KEYS[8] attempts,
  KEYS[9] segments
  ARGV[1] id, ARGV[2] index member
  Replies 0.
]]
if KEYS[6] and redis.call('GET', KEYS[6]) == ARGV[1] then redis.call('DEL', KEYS[6]) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[7], KEYS[8], KEYS[9])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[5], ARGV[2])
return 0
