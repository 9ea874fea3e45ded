"""The Lua script that writes a partition batch to Redis, all or nothing
(`RedisStore.commit`): the fencing check, the expected watermark, the accounts, due
times, directory, duplicate buckets, the new watermark and the batch's outputs."""

from __future__ import annotations

COMMIT = """
-- KEYS: epoch, wm, due, dir, (cold key, hot key) * n_acct, seen buckets...
-- ARGV: epoch, n_wm, (field, expected, new) * n_wm, out, n_acct,
--       (cold or '' if unchanged, hot, due) * n_acct,
--       n_dir, (msisdn, key) * n_dir, n_seen, (n_ids, ids...) * n_seen,
--       acct_prefix_len
-- A seen bucket with n_ids = 0 is deleted (its day left the window), else added to.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED')
end
local n_wm = tonumber(ARGV[2])
local i = 3
for _ = 1, n_wm do
  local cur = redis.call('HGET', KEYS[2], ARGV[i]) or '0'
  if cur ~= ARGV[i + 1] then
    return redis.error_reply('WATERMARK ' .. ARGV[i] .. ' at ' .. cur .. ' not ' .. ARGV[i + 1])
  end
  i = i + 3
end
i = 3
for _ = 1, n_wm do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
  i = i + 3
end
redis.call('HSET', KEYS[2], 'out', ARGV[i])
i = i + 1
local n_acct = tonumber(ARGV[i])
i = i + 1
local plen = tonumber(ARGV[#ARGV])
-- Many keys per call (MSET, ZADD, HSET of many members), not one call per account:
-- each call from Lua costs Redis about as much as a small write. In chunks: unpack is
-- bounded by Lua's stack.
local mset, zadd = {}, {}
for k = 1, n_acct do
  local key = KEYS[3 + 2 * k]
  if ARGV[i] ~= '' then  -- the due time is in the cold form: unchanged with it
    mset[#mset + 1] = key
    mset[#mset + 1] = ARGV[i]
    zadd[#zadd + 1] = ARGV[i + 2]
    zadd[#zadd + 1] = string.sub(key, plen + 1)
    if #zadd >= 2000 then
      redis.call('ZADD', KEYS[3], unpack(zadd))
      zadd = {}
    end
  end
  mset[#mset + 1] = KEYS[4 + 2 * k]
  mset[#mset + 1] = ARGV[i + 1]
  if #mset >= 2000 then
    redis.call('MSET', unpack(mset))
    mset = {}
  end
  i = i + 3
end
if #mset > 0 then
  redis.call('MSET', unpack(mset))
end
if #zadd > 0 then
  redis.call('ZADD', KEYS[3], unpack(zadd))
end
local n_dir = tonumber(ARGV[i])
i = i + 1
local last = i + 2 * n_dir - 1
while i <= last do
  local j = math.min(i + 1999, last)
  redis.call('HSET', KEYS[4], unpack(ARGV, i, j))
  i = j + 1
end
local n_seen = tonumber(ARGV[i])
i = i + 1
for k = 1, n_seen do
  local key = KEYS[4 + 2 * n_acct + k]
  local n_ids = tonumber(ARGV[i])
  if n_ids == 0 then
    redis.call('DEL', key)
  end
  i = i + 1
  local last = i + n_ids - 1
  while i <= last do  -- in chunks: unpack is bounded by Lua's stack
    local j = math.min(i + 999, last)
    redis.call('SADD', key, unpack(ARGV, i, j))
    i = j + 1
  end
end
return 'OK'
"""

# Which of a batch's record keys the lines' duplicate buckets hold, for a partition's
# buckets in one call (`RedisStore.read_ahead`): one reply, not one per line and day.
SEEN = """
-- KEYS: buckets; ARGV: (n_ids, ids...) per bucket, n_ids >= 1
-- returns 0 or 1 per id, in order
local out = {}
local i = 1
for k = 1, #KEYS do
  local last = i + tonumber(ARGV[i])
  i = i + 1
  while i <= last do  -- in chunks: unpack is bounded by Lua's stack
    local j = math.min(i + 999, last)
    local flags = redis.call('SMISMEMBER', KEYS[k], unpack(ARGV, i, j))
    for f = 1, #flags do
      out[#out + 1] = flags[f]
    end
    i = j + 1
  end
end
return out
"""
