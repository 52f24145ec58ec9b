--[[
  Makes the attempt the chunk's current one (its fencing token) while the job runs and the chunk is not
  committed. Every attempt after a chunk's first counts as a retry in the job's usage, and the first attempt
  of the job marks when its scoring started.
  KEYS[1] job, KEYS[2] commits, KEYS[3] attempts, KEYS[4] segments, KEYS[5] attempt counts
  ARGV[1] chunk index, ARGV[2] attempt, ARGV[3] now
  Replies {'started', accepted segments comma-separated or ''}, {'committed'}, {'missing'} or
  {'stopped', status}.
]]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return {'committed'} end
if status ~= 'running' then return {'stopped', status} end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
if redis.call('HINCRBY', KEYS[5], ARGV[1], 1) > 1 then redis.call('HINCRBY', KEYS[1], 'usageRetries', 1) end
redis.call('HSETNX', KEYS[1], 'scoringStartedAt', ARGV[3])
return {'started', redis.call('HGET', KEYS[4], ARGV[1]) or ''}
