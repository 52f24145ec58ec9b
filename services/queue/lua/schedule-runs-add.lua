--[[
  Adds a schedule's runs whose logical times it has no run for yet, to a schedule that still exists.
  KEYS[1] schedule record, KEYS[2] runs (hash: logical time → JSON), KEYS[3] history (zset by instant),
  KEYS[4] waiting (zset), KEYS[5] active (zset)
  ARGV[1] history limit; then per run: logical time, instant in ms, 'waiting' or 'active', JSON
  Replies the logical times added. Past the limit the oldest runs leave the history, unless they still
  wait or are active.
]]
if redis.call('exists', KEYS[1]) == 0 then return {} end
local added = {}
for i = 2, #ARGV, 4 do
  local logical, score, queue, json = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if redis.call('hsetnx', KEYS[2], logical, json) == 1 then
    redis.call('zadd', KEYS[3], score, logical)
    if queue == 'waiting' then
      redis.call('zadd', KEYS[4], score, logical)
    else
      redis.call('zadd', KEYS[5], score, logical)
    end
    added[#added + 1] = logical
  end
end
local excess = redis.call('zcard', KEYS[3]) - tonumber(ARGV[1])
if excess > 0 then
  for _, logical in ipairs(redis.call('zrange', KEYS[3], 0, excess - 1)) do
    if not redis.call('zscore', KEYS[4], logical) and not redis.call('zscore', KEYS[5], logical) then
      redis.call('zrem', KEYS[3], logical)
      redis.call('hdel', KEYS[2], logical)
    end
  end
end
return added
