--[[
  Creates a job, unless its id is taken, its idempotency key was used already, or its tenant is at its
  limit of active jobs. The limit is checked here, with the write, so racing creates cannot overshoot it.
  KEYS[1] job, KEYS[2] tenant's active set, KEYS[3] tenant's index, KEYS[4] global index,
  KEYS[5] jobs-by-status counts (moved only once `job-recount` has made them), KEYS[6] idempotency key
  (only when the job has one)
  ARGV[1] id, ARGV[2] max active jobs (negative: no limit; 0 refuses every job), ARGV[3] index member, ARGV[4..] field, value, …
  Replies {'created'}, {'exists'} (id taken), {'idem', existingId} or {'full'}.
]]
if KEYS[6] then
  local existing = redis.call('GET', KEYS[6])
  if existing then return {'idem', existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
local limit = tonumber(ARGV[2])
if limit >= 0 and redis.call('SCARD', KEYS[2]) >= limit then return {'full'} end
if KEYS[6] then redis.call('SET', KEYS[6], ARGV[1]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[3])
redis.call('ZADD', KEYS[4], 0, ARGV[3])
if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('HINCRBY', KEYS[5], 'queued', 1) end
return {'created'}
