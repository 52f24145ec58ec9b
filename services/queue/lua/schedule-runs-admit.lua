--[[
  Drops finished runs from a schedule's active runs, then admits the oldest waiting ones until
  `maxActive` are active: each becomes 'admitted' (its job still to be made) and active.
  KEYS[1] runs (hash: logical time → JSON), KEYS[2] waiting (zset), KEYS[3] active (zset)
  ARGV[1] maxActive, ARGV[2] now (ISO), ARGV[3..] logical times whose jobs ended
  Replies the JSON of every run admitted, oldest first.
]]
for i = 3, #ARGV do redis.call('zrem', KEYS[3], ARGV[i]) end
local free = tonumber(ARGV[1]) - redis.call('zcard', KEYS[3])
local admitted = {}
while free > 0 do
  local next = redis.call('zpopmin', KEYS[2])
  if #next == 0 then break end
  local logical, score = next[1], next[2]
  local json = redis.call('hget', KEYS[1], logical)
  if json then
    local run = cjson.decode(json)
    run.state = 'admitted'
    run.admittedAt = ARGV[2]
    json = cjson.encode(run)
    redis.call('hset', KEYS[1], logical, json)
    redis.call('zadd', KEYS[3], score, logical)
    admitted[#admitted + 1] = json
    free = free - 1
  end
end
return admitted
