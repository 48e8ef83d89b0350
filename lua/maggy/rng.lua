-- A seeded random generator that gives the same sequence on every machine.
--
-- The generator is xoshiro128** (Blackman and Vigna, "Scrambled linear
-- pseudorandom number generators", 2018) on four 32-bit words, written with
-- LuaJIT's `bit` operations; the seed is spread over the words with the
-- murmur3 finalizer. math.random is never used: its sequence depends on the
-- C library and is shared by everything in the Lua state.
--
--   local r = rng.new(42)
--   r:random()          -- [0, 1), 53 random bits
--   r:uniform(a, b)     -- [a, b)
--   r:randint(a, b)     -- integer in [a, b]
--   r:normal(mu, sigma)
--   r:choice(list), r:shuffle(list)
--   r:fork("optimizer") -- an independent stream; does not advance r

local describe = require "maggy.describe"
local bit = require "bit"

local band, bxor, rshift, lshift, rol, tobit = bit.band, bit.bxor, bit.rshift, bit.lshift, bit.rol, bit.tobit
local floor = math.floor

local M = {}

local Rng = {}
local objects = { __index = Rng } -- their metatable: not Rng itself (sandbox.lua)

local TWO32 = 4294967296
local TWO53 = 9007199254740992

-- (a * b) mod 2^32 as an int32. Splitting b keeps every product below 2^51,
-- where doubles and tobit are exact.
local function mul32(a, b)
  a, b = tobit(a), tobit(b)
  local lo, hi = band(b, 0xffff), rshift(b, 16)
  return tobit(tobit(a * hi) * 65536 + a * lo)
end

local function fmix32(h)
  h = mul32(bxor(h, rshift(h, 16)), 0x85ebca6b)
  h = mul32(bxor(h, rshift(h, 13)), 0xc2b2ae35)
  return bxor(h, rshift(h, 16))
end

-- Four well-mixed, not all zero, words from one 32-bit value.
local function expand(x)
  local s = {}
  for i = 1, 4 do
    x = tobit(x + 0x9e3779b9)
    s[i] = fmix32(x)
  end
  if s[1] == 0 and s[2] == 0 and s[3] == 0 and s[4] == 0 then s[1] = 1 end
  return s
end

local function from_words(s)
  return setmetatable({ s[1], s[2], s[3], s[4] }, objects)
end

-- seed: an integer (|seed| < 2^53). Seeds that differ in any bit give different streams.
function M.new(seed)
  if type(seed) ~= "number" or seed ~= floor(seed) or math.abs(seed) >= TWO53 then
    error("rng.new: the seed must be an integer below 2^53, got " .. describe(seed), 2)
  end
  local lo = seed % TWO32
  local hi = floor(seed / TWO32) % TWO32
  return from_words(expand(fmix32(bxor(fmix32(tobit(lo)), tobit(hi)))))
end

-- For tests against the reference implementation: the raw state words.
function M.from_state(a, b, c, d)
  return from_words({ tobit(a), tobit(b), tobit(c), tobit(d) })
end

-- The next 32 random bits, as an integer in [0, 2^32).
function Rng:next_u32()
  local s0, s1, s2, s3 = self[1], self[2], self[3], self[4]
  local result = tobit(rol(tobit(s1 * 5), 7) * 9)
  local t = lshift(s1, 9)
  s2 = bxor(s2, s0)
  s3 = bxor(s3, s1)
  s1 = bxor(s1, s2)
  s0 = bxor(s0, s3)
  s2 = bxor(s2, t)
  s3 = rol(s3, 11)
  self[1], self[2], self[3], self[4] = s0, s1, s2, s3
  return result % TWO32
end

function Rng:random(unexpected)
  if unexpected ~= nil then -- math.random's habit: random(1, 10)
    error("rng:random() takes no bounds and gives a number in [0, 1): use rng:randint(a, b) "
      .. "or rng:uniform(a, b)", 2)
  end
  local a = rshift(tobit(self:next_u32()), 5) -- 27 bits
  local b = rshift(tobit(self:next_u32()), 6) -- 26 bits
  return (a * 67108864 + b) / TWO53
end

function Rng:uniform(a, b)
  return a + (b - a) * self:random()
end

function Rng:randint(a, b)
  if a ~= floor(a) or b ~= floor(b) or a > b then
    error(string.format("rng:randint: expected integers a <= b, got %s and %s", describe(a), describe(b)), 2)
  end
  return a + floor(self:random() * (b - a + 1))
end

-- Box-Muller; one draw per call, so the stream does not depend on call history.
function Rng:normal(mu, sigma)
  mu, sigma = mu or 0, sigma or 1
  local u1 = 1 - self:random() -- (0, 1], safe for log
  local u2 = self:random()
  return mu + sigma * math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
end

function Rng:choice(list)
  if #list == 0 then error("rng:choice: the list is empty", 2) end
  return list[self:randint(1, #list)]
end

-- Fisher-Yates, in place; returns the list.
function Rng:shuffle(list)
  for i = #list, 2, -1 do
    local j = self:randint(1, i)
    list[i], list[j] = list[j], list[i]
  end
  return list
end

local function hash_string(s)
  local h = tobit(0x811c9dc5) -- FNV-1a
  for i = 1, #s do
    h = mul32(bxor(h, s:byte(i)), 16777619)
  end
  return h
end

-- A new generator derived from this one's current state and `label`.
-- The same state and label always give the same stream.
function Rng:fork(label)
  local x = hash_string(tostring(label))
  for i = 1, 4 do x = fmix32(bxor(x, self[i])) end
  return from_words(expand(x))
end

M.is_rng = function(x) return getmetatable(x) == objects end

return M
