--[[
  Marks one run of a schedule: 'submitted' (its job exists) or 'refused' (its job could not be made: it
  leaves the active runs). A run that is gone (the schedule was deleted) stays gone.
  KEYS[1] runs (hash: logical time → JSON), KEYS[2] active (zset)
  ARGV[1] logical time, ARGV[2] 'submitted' or 'refused', ARGV[3] now (ISO), ARGV[4] error JSON (or ''),
  ARGV[5] the job's id (or '': unchanged)
  Replies 1 when marked, else 0.
]]
local json = redis.call('hget', KEYS[1], ARGV[1])
if not json then return 0 end
local run = cjson.decode(json)
run.state = ARGV[2]
if ARGV[2] == 'submitted' then
  run.submittedAt = ARGV[3]
  if ARGV[5] ~= '' then run.jobId = ARGV[5] end
else
  run.error = cjson.decode(ARGV[4])
  redis.call('zrem', KEYS[2], ARGV[1])
end
redis.call('hset', KEYS[1], ARGV[1], cjson.encode(run))
return 1
