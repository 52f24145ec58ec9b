--[[
  Included (`--@include output-hold-conflict`) by the scripts that make a job active: job-create.lua and
  job-retry.lua. An active job holds its output folder; a job may not become active while another active
  job holds the same folder, one above it or one inside it.
  output_hold_conflict(folders, ordered, jobKeyPrefix, folder, parents) with `folders` the hash folder →
  job id, `ordered` the same folders as a sorted set (all scored 0, for prefix ranges), `jobKeyPrefix`
  `<prefix>:job:` (same hash slot), `folder` ending in '/', `parents` the folders above it,
  newline-separated. Returns holderId, heldFolder, or nil when the folder is free. A hold whose job ended
  (or is gone) without releasing it is stale: dropped on the way, never a refusal.
]]
local function output_hold_conflict(folders, ordered, jobKeyPrefix, folder, parents)
  local function live(held)
    local holder = redis.call('HGET', folders, held)
    if not holder then return nil end
    local status = redis.call('HGET', jobKeyPrefix .. holder, 'status')
    if status and status ~= 'succeeded' and status ~= 'failed' and status ~= 'cancelled'
      and status ~= 'expired' then
      return holder
    end
    redis.call('HDEL', folders, held)
    redis.call('ZREM', ordered, held)
    return nil
  end
  -- The folder itself, and every folder above it …
  local holder = live(folder)
  if holder then return holder, folder end
  for parent in string.gmatch(parents, '[^\n]+') do
    holder = live(parent)
    if holder then return holder, parent end
  end
  -- … and every folder inside it: members starting with `folder` (which ends in '/').
  for _, held in ipairs(redis.call('ZRANGE', ordered, '[' .. folder, '[' .. folder .. '\255', 'BYLEX')) do
    holder = live(held)
    if holder then return holder, held end
  end
  return nil
end
