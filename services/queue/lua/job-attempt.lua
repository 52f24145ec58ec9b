--[[
  Tells an attempt's state and, given a segment ref, appends it to the chunk's accepted chain. The check and
  the append are one step: a segment is accepted only from the current attempt of a running job.
  An accepted segment counts as progress of the running job.
  KEYS[1] job, KEYS[2] commits, KEYS[3] attempts, KEYS[4] segments, KEYS[5] running jobs' progress
  ARGV[1] chunk index, ARGV[2] attempt, ARGV[3] segment ref ('' only checks), ARGV[4] id, ARGV[5] now in ms
  Replies 'current', 'superseded', 'committed', 'missing' or the job's status.
]]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
local chain = redis.call('HGET', KEYS[4], ARGV[1])
-- A resent append (ioredis resends a command whose reply a dropped connection lost) was accepted already.
if ARGV[3] ~= '' and chain and string.find(',' .. chain .. ',', ',' .. ARGV[3] .. ',', 1, true) then
  return 'current'
end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 'committed' end
if status ~= 'running' then return status end
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return 'superseded' end
if ARGV[3] == '' then return 'current' end
redis.call('HSET', KEYS[4], ARGV[1], chain and (chain .. ',' .. ARGV[3]) or ARGV[3])
redis.call('ZADD', KEYS[5], 'XX', ARGV[5], ARGV[4])
return 'current'
