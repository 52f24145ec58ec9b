--[[
  Removes a job: its record, chunk bookkeeping, idempotency key (when still its own) and index entries; the
  jobs-by-status counts lose it (the finished totals keep it: they only ever grow).
  KEYS[1] job, KEYS[2] chunks (before v0.2), KEYS[3] tenant's active set, KEYS[4] tenant's index,
  KEYS[5] global index, KEYS[6] idempotency key (or a key never set), KEYS[7] commits, KEYS[8] attempts,
  KEYS[9] segments, KEYS[10] jobs-by-status counts, KEYS[11] running jobs' progress, KEYS[12] chunk stats,
  KEYS[13] attempt counts, KEYS[14] output folders held (hash), KEYS[15] the same folders (sorted set): a
  hold on its output folder that is still its own is released
  ARGV[1] id, ARGV[2] index member
  Replies 0.
]]
local status = redis.call('HGET', KEYS[1], 'status')
if status and redis.call('EXISTS', KEYS[10]) == 1 then redis.call('HINCRBY', KEYS[10], status, -1) end
if KEYS[6] and redis.call('GET', KEYS[6]) == ARGV[1] then redis.call('DEL', KEYS[6]) end
local folder = redis.call('HGET', KEYS[1], 'outputFolder')
if folder and redis.call('HGET', KEYS[14], folder) == ARGV[1] then
  redis.call('HDEL', KEYS[14], folder)
  redis.call('ZREM', KEYS[15], folder)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[7], KEYS[8], KEYS[9], KEYS[12], KEYS[13])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[5], ARGV[2])
redis.call('ZREM', KEYS[11], ARGV[1])
return 0
