--[[
  Moves a job to another state when the lifecycle allows it. A terminal job leaves the active set in the
  same step, and every move is published for long-polls.
  KEYS[1] job, KEYS[2] tenant's active set (only when the target state is terminal)
  ARGV[1] to, ARGV[2] now, ARGV[3] comma-separated states allowed to move to 'to', ARGV[4] setStartedAt
  ('1'/'0'), ARGV[5] setFinishedAt ('1'/'0'), ARGV[6] id, ARGV[7] status channel,
  ARGV[8..] patch field, value, …
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
if #ARGV > 7 then redis.call('HSET', KEYS[1], unpack(ARGV, 8)) end
if KEYS[2] then redis.call('SREM', KEYS[2], ARGV[6]) end
redis.call('PUBLISH', ARGV[7], ARGV[6])
return {'moved', from}
