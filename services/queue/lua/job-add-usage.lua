--[[
  Adds an attempt's resource use to its job's usage (a job gone meanwhile is left gone).
  KEYS[1] job
  ARGV[1..] usage field, increment, … (fractional increments allowed)
  Replies 1, or 0 when the job is gone.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 1, #ARGV, 2 do redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
