-- A percentile of a growing set of numbers, kept as the numbers come: insert
-- in O(log n), read in O(1). With the values sorted best first (descending
-- for "max", ascending for "min"), value() is the one at the interpolated
-- rank percentile/100 * (n - 1) + 1, as a sort of all of them would give.
--
--   local q = Quantile.new(50, "max")
--   q:insert(0.7); q:insert(0.9); q:insert(0.8)
--   q:value() --> 0.8      q:count() --> 3
--
-- Two heaps split the values at that rank (maggy.heap's split): `top` holds
-- the `lo` best ones with the worst of them on top, `rest` the others with
-- the best on top.

local heap = require "maggy.heap"

local Quantile = {}
local objects = { __index = Quantile } -- their metatable: not Quantile itself (sandbox.lua)

local floor = math.floor

local function gt(a, b) return a > b end
local function lt(a, b) return a < b end

function Quantile.new(percentile, direction)
  return setmetatable({
    percentile = percentile, split = heap.split(direction == "min" and lt or gt), n = 0,
  }, objects)
end

-- (kept as a field: `#` on the heaps' arrays is a binary search, and a
-- stopping rule asks for every running trial at every check)
function Quantile:count()
  return self.n
end

-- The rank (from 1, best first) of the value read, for n values.
function Quantile:rank(n)
  return self.percentile / 100 * (n - 1) + 1
end

function Quantile:insert(x)
  self.n = self.n + 1
  heap.split_add(self.split, x, floor(self:rank(self.n)))
end

-- The interpolated percentile, or nil when empty.
function Quantile:value()
  local n = self:count()
  if n == 0 then return nil end
  local r = self:rank(n)
  local lo = floor(r)
  local at_lo = self.split.top[1]
  local at_hi = lo < n and self.split.rest[1] or at_lo
  return at_lo + (at_hi - at_lo) * (r - lo)
end

return Quantile
