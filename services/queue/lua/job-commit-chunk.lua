--[[
  Counts a chunk done. The fencing check, the exactly-once count and the counters move in one script: a
  chunk is counted at most once, and only for its current attempt (an adoption only while the job is
  planning).
  An accepted chunk's rows and time go to the chunk stats (the dashboard's chunks and progress over time),
  and count as progress of a running job.
  KEYS[1] job, KEYS[2] commits, KEYS[3] attempts, KEYS[4] running jobs' progress, KEYS[5] chunk stats
  ARGV[1] chunk index, ARGV[2] attempt, ARGV[3] rows, ARGV[4] rejected, ARGV[5] now,
  ARGV[6] mode ('attempt' or 'adopt'), ARGV[7] maxInvalidFraction (-1: none), ARGV[8] id, ARGV[9] now in ms
  Replies {outcome, chunksDone, chunksTotal, overLimit (1/0)} with outcome 'accepted', 'again' (the same
  attempt, already counted), 'duplicate' or 'stale'; or {'missing'}.
]]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
local function reply(outcome, over)
  return {outcome, tonumber(redis.call('HGET', KEYS[1], 'chunksDone') or '0'),
    tonumber(redis.call('HGET', KEYS[1], 'chunksTotal') or '0'), over}
end
local accepted = redis.call('HGET', KEYS[2], ARGV[1])
-- The same attempt again (a resent command whose reply was lost): accepted, but counted only the first time.
if accepted == ARGV[2] then return reply('again', 0) end
if accepted then return reply('duplicate', 0) end
if ARGV[6] == 'adopt' then
  if status ~= 'planning' then return reply('stale', 0) end
else
  if status ~= 'running' or redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return reply('stale', 0) end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[1], 'chunksDone', 1)
redis.call('HINCRBY', KEYS[1], 'rowsScored', ARGV[3])
local rejected = redis.call('HINCRBY', KEYS[1], 'rowsRejected', ARGV[4])
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[5], 'lastCommitAt', ARGV[5])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[3] .. ',' .. ARGV[4] .. ',' .. ARGV[9])
redis.call('ZADD', KEYS[4], 'XX', ARGV[9], ARGV[8])
local over = 0
local fraction = tonumber(ARGV[7])
local inputRows = tonumber(redis.call('HGET', KEYS[1], 'inputRows') or '-1')
if fraction >= 0 and inputRows > 0 and rejected > fraction * inputRows then over = 1 end
return reply('accepted', over)
