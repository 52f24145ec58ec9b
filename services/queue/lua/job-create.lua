--[[
  Creates a job, unless its id is taken, its idempotency key was used already, its tenant is at its
  limit of active jobs, or its output folder is in use. The limit and the folder are checked here, with the
  write, so racing creates cannot overshoot the one or share the other.
  KEYS[1] job, KEYS[2] tenant's active set, KEYS[3] tenant's index, KEYS[4] global index,
  KEYS[5] jobs-by-status counts (moved only once `job-recount` has made them), KEYS[6] output folders held
  (hash: folder → job id), KEYS[7] the same folders (sorted set, all scored 0, for prefix ranges),
  KEYS[8] deadlines (sorted set: `<id>:<attempt>` → ms of the next look), KEYS[9] idempotency key (only
  when the job has one)
  ARGV[1] id, ARGV[2] max active jobs (negative: no limit; 0 refuses every job), ARGV[3] index member,
  ARGV[4] output folder to hold ('' for none), ARGV[5] the folders above it, newline-separated,
  ARGV[6] job key prefix (`<prefix>:job:`, same hash slot: a holder's status is read to tell a stale hold),
  ARGV[7] ms of the first deadline look ('' when the spec sets no deadline; indexed in the same step, so
  no crash leaves a job without its deadlines), ARGV[8] its deadline member, ARGV[9..] field, value, …
  Replies {'created'}, {'exists'} (id taken), {'idem', existingId}, {'full'} or
  {'in-use', holderId, heldFolder}.
]]
if KEYS[9] then
  local existing = redis.call('GET', KEYS[9])
  if existing then return {'idem', existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
local limit = tonumber(ARGV[2])
if limit >= 0 and redis.call('SCARD', KEYS[2]) >= limit then return {'full'} end

--@include output-hold-conflict
local folder = ARGV[4]
if folder ~= '' then
  local holder, held = output_hold_conflict(KEYS[6], KEYS[7], ARGV[6], folder, ARGV[5])
  if holder then return {'in-use', holder, held} end
end

if KEYS[9] then redis.call('SET', KEYS[9], ARGV[1]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 9))
if ARGV[7] ~= '' then redis.call('ZADD', KEYS[8], ARGV[7], ARGV[8]) end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[3])
redis.call('ZADD', KEYS[4], 0, ARGV[3])
if folder ~= '' then
  redis.call('HSET', KEYS[6], folder, ARGV[1])
  redis.call('ZADD', KEYS[7], 0, folder)
end
if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('HINCRBY', KEYS[5], 'queued', 1) end
return {'created'}
