-- Grid search: every combination of a fixed set of values per parameter, in a
-- deterministic order (the first parameter name in sorted order varies slowest).
--
-- Per parameter: DOUBLE takes `points` evenly spaced values (log-spaced on a
-- log scale), end points included; INTEGER takes all its values when there are
-- at most `points`, else `points` evenly spaced ones, rounded; DISCRETE and
-- CATEGORICAL take all their values.
--
-- Parameters: points (default 5), values per DOUBLE or INTEGER parameter.
--
-- Paper: none; the classic baseline, see Bergstra and Bengio, "Random Search
-- for Hyper-Parameter Optimization", JMLR 13, 2012, for why random often wins.
--
-- Without num_trials in the experiment, the run covers the whole grid (count()).

local describe = require "maggy.describe"
local options = require "maggy.options"
local Grid = {}
local objects = { __index = Grid } -- their metatable: not Grid itself (sandbox.lua)

function Grid.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error("optimizers.grid: expected an options table, got " .. type(opts), 2)
  end
  local bad = options.unknown(opts, { "points" })
  if bad then error("optimizers.grid: " .. bad, 2) end
  local points = opts.points or 5
  if type(points) ~= "number" or points < 1 or points ~= math.floor(points) then
    error("optimizers.grid: points must be a positive integer, got " .. describe(points), 2)
  end
  return setmetatable({ name = "grid", points = points }, objects)
end

function Grid:initialize(ctx)
  self.next_point = ctx.space:grid(self.points)
end

-- The next grid point, or nil once the grid is covered.
function Grid:suggest(ctx)
  if not self.next_point then self:initialize(ctx) end
  return self.next_point()
end

-- How many trials the grid holds.
function Grid:count(ctx)
  return ctx.space:grid_size(self.points)
end

return Grid
