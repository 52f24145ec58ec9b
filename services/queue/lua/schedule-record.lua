--[[
  Writes one field of a schedule that still exists (a schedule deleted meanwhile stays deleted).
  KEYS[1] schedule
  ARGV[1] field, ARGV[2] JSON, ARGV[3] field to clear (or '')
  Replies 1 when written, else 0.
]]
if redis.call('exists', KEYS[1]) == 0 then return 0 end
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('hdel', KEYS[1], ARGV[3]) end
return 1
