--[[
  Records what planning found, on a job that still exists.
  KEYS[1] job
  ARGV[1] chunksTotal, ARGV[2] now, ARGV[3..] field, value, … (inputRows, modelSha256 when known)
  Replies 1, or 0 when there is no job.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'chunksTotal', ARGV[1], 'updatedAt', ARGV[2])
if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
return 1
