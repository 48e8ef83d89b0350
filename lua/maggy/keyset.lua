-- The configurations an experiment already has, by their keys (a canonical
-- string of a trial's params, see Space:key), without keeping the key
-- strings: an experiment holds one key per trial for as long as it runs,
-- and each would cost about 30 bytes per parameter.
--
-- The set maps a 32-bit hash of a key to the trial that owns it, and asks
-- `key_of(trial)` for the key itself only when a hash is found again: a
-- duplicate is told from a collision exactly. The rare keys whose hash is
-- taken by another key are kept as strings.
--
--   local set = keyset.new(function(trial) return key_of_its_params end)
--                          -- (a second argument replaces the hash: tests)
--   set:add(key, trial)
--   set:has(key)   -- true when some trial's key equals key

local bit = require "bit"

local bxor, lshift, tobit = bit.bxor, bit.lshift, bit.tobit
local byte = string.byte

local M = {}

local Set = {}
Set.__index = Set

-- FNV-1a, 32 bits (x * 16777619 as x * 2^24 + x * 403, each exact in a double).
local function hash(s)
  local h = -2128831035 -- 0x811c9dc5
  for i = 1, #s do
    h = bxor(h, byte(s, i))
    h = tobit(lshift(h, 24) + h * 403)
  end
  return h
end
M.hash = hash

function M.new(key_of, hash_of)
  return setmetatable({ owners = {}, clashes = {}, key_of = key_of, hash = hash_of or hash }, Set)
end

function Set:has(key)
  local owner = self.owners[self.hash(key)]
  if owner == nil then return false end
  return self.key_of(owner) == key or self.clashes[key] == true
end

function Set:add(key, owner)
  local h = self.hash(key)
  local first = self.owners[h]
  if first == nil then
    self.owners[h] = owner
  elseif self.key_of(first) ~= key then
    self.clashes[key] = true
  end
end

return M
