-- Shared by the strategy specs: a ctx and trials made the way the runtime
-- makes them (tests/lua is on the specs' package.path, see .busted).
--
--   local support = require "support.strategies"
--   local ctx = support.ctx_for(seed, "max")       -- space {x: DOUBLE, k: INTEGER}
--   local t = support.add(ctx, opt:suggest(ctx))   -- as on a 'new' event
--   support.finish(ctx, opt, t, 0.7)               -- as on an 'end' event
--   local r = support.trial("RUNNING", {0.1, 0.2}) -- alone, with a history
--   local f = support.cells_objective()            -- a plateau-ridden objective

local maggy = require "maggy"
local Ctx = require "maggy.ctx"
local Trial = require "maggy.trial"
local rng = require "maggy.rng"

local M = {}

function M.ctx_for(seed, direction, space)
  space = space or maggy.searchspace{ x = maggy.double(0, 1), k = maggy.integer(1, 5) }
  return Ctx.new({ space = space, rng = rng.new(seed or 1), direction = direction or "max" })
end

function M.add(ctx, params)
  local n = #ctx._trials + 1
  local t = Trial.new(string.format("%016x", n), n, params)
  Ctx.add_trial(ctx, t)
  return t
end

function M.finish(ctx, opt, t, value, state)
  t.state, t.value = state or "FINISHED", value
  opt:observe(ctx, t)
end

local made = 0

-- A trial outside any ctx, with values reported at steps 1, 2, ...
function M.trial(state, values)
  made = made + 1
  local t = Trial.new(string.format("%016x", made), made, {})
  t.state = state
  for step, v in ipairs(values) do t:add_point(step, v) end
  return t
end

-- A deterministic objective on {a, b, c} in the unit cube that is flat over
-- cells: the value of the nearest of 30 fixed points, as a table of
-- configurations looked up by nearest neighbour gives it (lower is better).
function M.cells_objective()
  local r, centres = rng.new(77), {}
  for i = 1, 30 do centres[i] = { r:random(), r:random(), r:random() } end
  return function(p)
    local best, value = math.huge, nil
    for i, c in ipairs(centres) do
      local d = (p.a - c[1]) ^ 2 + (p.b - c[2]) ^ 2 + (p.c - c[3]) ^ 2
      if d < best then best, value = d, (c[1] - 0.3) ^ 2 + (c[2] - 0.6) ^ 2 + c[3] / 4 + i * 1e-6 end
    end
    return value
  end
end

-- How many distinct values f gives over a list of params.
function M.distinct_values(list, f)
  local seen, count = {}, 0
  for _, p in ipairs(list) do
    local v = f(p)
    if not seen[v] then seen[v], count = true, count + 1 end
  end
  return count
end

return M
