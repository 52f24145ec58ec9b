--[[
  Moves a job to another state when the lifecycle allows it. A terminal job leaves the active set in the
  same step, and every move is published for long-polls. The jobs-by-status counts follow the move (once
  `job-recount` has made them), a terminal move counts towards the finished totals, and the running jobs'
  progress set holds exactly the jobs in `running`.
  KEYS[1] job, KEYS[2] jobs-by-status counts, KEYS[3] finished totals, KEYS[4] running jobs' progress
  (sorted set: id → ms of the last progress), KEYS[5] tenant's active set, KEYS[6] output folders held
  (hash: folder → job id), KEYS[7] the same folders (sorted set) — KEYS[5..7] only when the target state
  is terminal: the job's hold on its output folder (`outputFolder` field) is released if still its own
  ARGV[1] to, ARGV[2] now, ARGV[3] comma-separated states allowed to move to 'to', ARGV[4] setStartedAt
  ('1'/'0'), ARGV[5] setFinishedAt ('1'/'0'), ARGV[6] id, ARGV[7] status channel, ARGV[8] now in ms,
  ARGV[9..] patch field, value, …
  Replies {'missing'}, {'same'}, {'invalid', from} or {'moved', from}.
]]
local from = redis.call('HGET', KEYS[1], 'status')
if not from then return {'missing'} end
if from == ARGV[1] then return {'same'} end
local allowed = false
for state in string.gmatch(ARGV[3], '[^,]+') do
  if state == from then allowed = true end
end
if not allowed then return {'invalid', from} end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updatedAt', ARGV[2])
if ARGV[4] == '1' then redis.call('HSETNX', KEYS[1], 'startedAt', ARGV[2]) end
if ARGV[5] == '1' then redis.call('HSET', KEYS[1], 'finishedAt', ARGV[2]) end
if #ARGV > 8 then redis.call('HSET', KEYS[1], unpack(ARGV, 9)) end
if KEYS[5] then redis.call('SREM', KEYS[5], ARGV[6]) end
if KEYS[7] then
  local folder = redis.call('HGET', KEYS[1], 'outputFolder')
  -- Only the job's own hold: a stale one may have been taken over by a later job since.
  if folder and redis.call('HGET', KEYS[6], folder) == ARGV[6] then
    redis.call('HDEL', KEYS[6], folder)
    redis.call('ZREM', KEYS[7], folder)
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], from, -1)
  redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
end
if ARGV[5] == '1' then redis.call('HINCRBY', KEYS[3], ARGV[1], 1) end
if ARGV[1] == 'running' then
  redis.call('ZADD', KEYS[4], ARGV[8], ARGV[6])
elseif from == 'running' then
  redis.call('ZREM', KEYS[4], ARGV[6])
end
redis.call('PUBLISH', ARGV[7], ARGV[6])
return {'moved', from}
