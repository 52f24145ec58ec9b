--[[
  Enforces a job's deadline: a compare-and-move that ends the job (`expired` from `queued`, `failed` with
  JOB_TIMEOUT from `planning`/`running`) only while it is still on the deadline's attempt and in one of the
  states the deadline applies to, so a job that started, finished or was retried meanwhile is left alone.
  Moves like `job-transition` to a terminal state (active set, counts, finished totals, running set,
  announcement) and drops the deadline entry.
  KEYS[1] job, KEYS[2] jobs-by-status counts, KEYS[3] finished totals, KEYS[4] running jobs' progress,
  KEYS[5] tenant's active set, KEYS[6] deadlines, KEYS[7] output folders held (hash), KEYS[8] the same
  folders (sorted set): the job's hold on its output folder is released if still its own
  ARGV[1] id, ARGV[2] attempt, ARGV[3] to, ARGV[4] comma-separated states it may move from, ARGV[5] now,
  ARGV[6] error as JSON, ARGV[7] status channel
  Replies {'missing'}, {'stale', status} or {'moved', from}.
]]
local member = ARGV[1] .. ':' .. ARGV[2]
local from = redis.call('HGET', KEYS[1], 'status')
if not from then
  redis.call('ZREM', KEYS[6], member)
  return {'missing'}
end
if (redis.call('HGET', KEYS[1], 'attempts') or '1') ~= ARGV[2] then return {'stale', from} end
local allowed = false
for state in string.gmatch(ARGV[4], '[^,]+') do
  if state == from then allowed = true end
end
if not allowed then return {'stale', from} end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'updatedAt', ARGV[5], 'finishedAt', ARGV[5], 'error', ARGV[6])
redis.call('SREM', KEYS[5], ARGV[1])
local folder = redis.call('HGET', KEYS[1], 'outputFolder')
if folder and redis.call('HGET', KEYS[7], folder) == ARGV[1] then
  redis.call('HDEL', KEYS[7], folder)
  redis.call('ZREM', KEYS[8], folder)
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], from, -1)
  redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
end
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
if from == 'running' then redis.call('ZREM', KEYS[4], ARGV[1]) end
redis.call('ZREM', KEYS[6], member)
redis.call('PUBLISH', ARGV[7], ARGV[1])
return {'moved', from}
