-- A percentile of a growing set of numbers, kept as the numbers come: insert
-- in O(log n), read in O(1). With the values sorted best first (descending
-- for "max", ascending for "min"), value() is the one at the interpolated
-- rank percentile/100 * (n - 1) + 1, as a sort of all of them would give.
--
--   local q = Quantile.new(50, "max")
--   q:insert(0.7); q:insert(0.9); q:insert(0.8)
--   q:value() --> 0.8      q:count() --> 3
--
-- Two heaps split the values at that rank: `upper` holds the `lo` best ones
-- with the worst of them on top, `lower` the rest with the best on top.

local heap = require "maggy.heap"

local Quantile = {}
Quantile.__index = Quantile

local floor = math.floor
local push, pop = heap.push, heap.pop

local function gt(a, b) return a > b end
local function lt(a, b) return a < b end

function Quantile.new(percentile, direction)
  local better = direction == "min" and lt or gt
  local worse = direction == "min" and gt or lt
  return setmetatable({
    percentile = percentile, better = better,
    upper = {}, upper_first = worse,   -- the lo best, the worst of them on top
    lower = {}, lower_first = better,  -- the rest, the best of them on top
  }, Quantile)
end

function Quantile:count()
  return #self.upper + #self.lower
end

-- The rank (from 1, best first) of the value read, for n values.
function Quantile:rank(n)
  return self.percentile / 100 * (n - 1) + 1
end

function Quantile:insert(x)
  local upper, lower = self.upper, self.lower
  if #upper > 0 and not self.better(upper[1], x) then
    push(upper, self.upper_first, x)
  else
    push(lower, self.lower_first, x)
  end
  local lo = floor(self:rank(#upper + #lower))
  while #upper > lo do push(lower, self.lower_first, pop(upper, self.upper_first)) end
  while #upper < lo do push(upper, self.upper_first, pop(lower, self.lower_first)) end
end

-- The interpolated percentile, or nil when empty.
function Quantile:value()
  local n = self:count()
  if n == 0 then return nil end
  local r = self:rank(n)
  local lo = floor(r)
  local at_lo = self.upper[1]
  local at_hi = lo < n and self.lower[1] or at_lo
  return at_lo + (at_hi - at_lo) * (r - lo)
end

return Quantile
