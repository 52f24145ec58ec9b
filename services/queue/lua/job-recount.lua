--[[
  Makes the jobs-by-status counts (and the running jobs' progress set) from the records, once: jobs made
  before the counts existed are counted here, and from then on every create, move and delete keeps them. The
  finished totals start from the terminal jobs still held. One pass over the index, once per deployment.
  KEYS[1] jobs-by-status counts, KEYS[2] finished totals, KEYS[3] global index, KEYS[4] running jobs'
  progress
  ARGV[1] job key prefix (`<prefix>:job:`), ARGV[2] now in ms, ARGV[3] comma-separated statuses,
  ARGV[4] comma-separated terminal statuses, ARGV[5] digits of the index members' created-ms part
  Replies 0 when the counts existed already, else 1.
]]
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local counts = {}
for state in string.gmatch(ARGV[3], '[^,]+') do counts[state] = 0 end
local skip = tonumber(ARGV[5]) + 2
for _, member in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  local id = string.sub(member, skip)
  local status = redis.call('HGET', ARGV[1] .. id, 'status')
  if status then
    counts[status] = (counts[status] or 0) + 1
    if status == 'running' then redis.call('ZADD', KEYS[4], 'NX', ARGV[2], id) end
  end
end
local fields = {}
for state, n in pairs(counts) do
  fields[#fields + 1] = state
  fields[#fields + 1] = n
end
redis.call('HSET', KEYS[1], unpack(fields))
if redis.call('EXISTS', KEYS[2]) == 0 then
  for state in string.gmatch(ARGV[4], '[^,]+') do redis.call('HSET', KEYS[2], state, counts[state] or 0) end
end
return 1
