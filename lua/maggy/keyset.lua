-- The configurations an experiment already has, by their keys (a canonical
-- string of a trial's params, see Space:key), without keeping the key
-- strings: an experiment holds one key per trial for as long as it runs,
-- and each would cost about 30 bytes per parameter.
--
-- The set maps a 32-bit hash of a key to the trial that owns it, and asks
-- `key_of(trial)` for the key itself only when a hash is found again: a
-- duplicate is told from a collision exactly. The rare keys whose hash is
-- taken by another key are kept as strings. That needs a trial's key never
-- to change: when the key rebuilt has another hash than the one stored,
-- `changed(trial)` is called, which raises an error.
--
--   local set = keyset.new(function(trial) return key_of_its_params end,
--                          function(trial) error(...) end)
--                          -- (a third argument replaces the hash: tests)
--   set:add(key, trial)
--   set:has(key)   -- true when some trial's key equals key

local bit = require "bit"

local bxor, lshift, tobit = bit.bxor, bit.lshift, bit.tobit
local byte = string.byte

local M = {}

local Set = {}
local objects = { __index = Set } -- their metatable: not Set itself (sandbox.lua)

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

local function changed_key()
  error("maggy.keyset: the key of an entry changed", 2)
end

function M.new(key_of, changed, hash_of)
  return setmetatable({ owners = {}, clashes = {}, key_of = key_of, changed = changed or changed_key,
    hash = hash_of or hash }, objects)
end

-- The key of the owner of hash h, which must still have that hash.
local function owner_key(self, owner, h)
  local key = self.key_of(owner)
  if self.hash(key) ~= h then self.changed(owner) end
  return key
end

function Set:has(key)
  local h = self.hash(key)
  local owner = self.owners[h]
  if owner == nil then return false end
  return owner_key(self, owner, h) == key or self.clashes[key] == true
end

function Set:add(key, owner)
  local h = self.hash(key)
  local first = self.owners[h]
  if first == nil then
    self.owners[h] = owner
  elseif owner_key(self, first, h) ~= key then
    self.clashes[key] = true
  end
end

return M
