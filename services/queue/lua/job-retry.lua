--[[
  Takes a failed or cancelled job back to `queued` for another attempt (POST /v1/jobs/:id/retry). The
  state check, the tenant's active-jobs limit and the move are one step, so two retries (or a retry and a
  limit) never race. The ended attempt is appended to `previousAttempts` (its error kept as it was); the
  chunk bookkeeping is reset so the new attempt's planning adopts committed chunks from their markers in
  storage, exactly as after Redis lost a job, and queues the rest. The model digest and the usage stay.
  KEYS[1] job, KEYS[2] commits, KEYS[3] attempts (fencing tokens), KEYS[4] segments, KEYS[5] chunk stats,
  KEYS[6] legacy chunk set, KEYS[7] tenant's active set, KEYS[8] jobs-by-status counts, KEYS[9] deadlines,
  KEYS[10] output folders held (hash: folder → job id), KEYS[11] the same folders (sorted set)
  ARGV[1] id, ARGV[2] now, ARGV[3] comma-separated states a retry starts from, ARGV[4] max active jobs
  (negative: no limit), ARGV[5] status channel, ARGV[6] ms of the new attempt's first deadline check
  (0: none), ARGV[7] the job's output folder, ARGV[8] the folders above it, newline-separated, ARGV[9] job
  key prefix (`<prefix>:job:`)
  The job becomes active again, so it takes its output folder's hold as `job-create.lua` does (the same
  checks: the folder, every folder above it and inside it), refusing while another active job holds one.
  Replies {'missing'}, {'invalid', status}, {'full'}, {'in-use', holderId, heldFolder} or
  {'retried', from, new attempt}.
]]
local from = redis.call('HGET', KEYS[1], 'status')
if not from then return {'missing'} end
local allowed = false
for state in string.gmatch(ARGV[3], '[^,]+') do
  if state == from then allowed = true end
end
if not allowed then return {'invalid', from} end
local limit = tonumber(ARGV[4])
if limit >= 0 and redis.call('SCARD', KEYS[7]) >= limit then return {'full'} end

-- This job's own hold, if any, is stale now (the job ended), so only another active job refuses.
--@include output-hold-conflict
local folder = ARGV[7]
local holder, held = output_hold_conflict(KEYS[10], KEYS[11], ARGV[9], folder, ARGV[8])
if holder then return {'in-use', holder, held} end

local attempt = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '1')
local entry = '{"attempt":' .. attempt .. ',"status":' .. cjson.encode(from)
for _, field in ipairs({'startedAt', 'finishedAt'}) do
  local value = redis.call('HGET', KEYS[1], field)
  if value then entry = entry .. ',"' .. field .. '":' .. cjson.encode(value) end
end
-- The error is stored as JSON already: kept byte for byte.
local err = redis.call('HGET', KEYS[1], 'error')
if err then entry = entry .. ',"error":' .. err end
entry = entry .. '}'
local history = redis.call('HGET', KEYS[1], 'previousAttempts')
if history then
  history = string.sub(history, 1, -2) .. ',' .. entry .. ']'
else
  history = '[' .. entry .. ']'
end

redis.call('HSET', KEYS[1], 'status', 'queued', 'updatedAt', ARGV[2], 'queuedAt', ARGV[2],
  'attempts', attempt + 1, 'previousAttempts', history, 'chunksDone', 0, 'rowsScored', 0, 'rowsRejected', 0)
redis.call('HDEL', KEYS[1], 'startedAt', 'finishedAt', 'error', 'warnings', 'manifestUri', 'reportUri', 'chunksTotal', 'inputRows',
  'scoringStartedAt', 'lastCommitAt')
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
redis.call('SADD', KEYS[7], ARGV[1])
redis.call('HSET', KEYS[10], folder, ARGV[1])
redis.call('ZADD', KEYS[11], 0, folder)
if redis.call('EXISTS', KEYS[8]) == 1 then
  redis.call('HINCRBY', KEYS[8], from, -1)
  redis.call('HINCRBY', KEYS[8], 'queued', 1)
end
if tonumber(ARGV[6]) > 0 then redis.call('ZADD', KEYS[9], ARGV[6], ARGV[1] .. ':' .. (attempt + 1)) end
redis.call('PUBLISH', ARGV[5], ARGV[1])
return {'retried', from, attempt + 1}
