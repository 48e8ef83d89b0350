-- Random search: every suggestion is an independent draw from the search space
-- (uniform, or log-uniform for log-scale parameters).
--
-- Parameters: none.
--
-- Paper: Bergstra and Bengio, "Random Search for Hyper-Parameter Optimization",
-- JMLR 13, 2012.
--
-- Copy this file to write your own optimizer: a class table, `new` returning a
-- fresh instance, and the contract methods. Only `suggest` is required.
--
--   random{}   -- maggy.optimizers.random{} in an experiment script

local options = require "maggy.options"

local Random = {}
local objects = { __index = Random } -- their metatable: not Random itself (sandbox.lua)

function Random.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error("optimizers.random: expected an options table, got " .. type(opts), 2)
  end
  local bad = options.unknown(opts, {})
  if bad then error("optimizers.random: " .. bad, 2) end
  return setmetatable({ name = "random" }, objects)
end

-- Params for one new trial. ctx.rng is this optimizer's own seeded stream, so
-- a run with the same seed suggests the same trials. Never returns nil: the
-- experiment's num_trials decides when to stop.
function Random:suggest(ctx)
  return ctx.space:sample(ctx.rng)
end

return Random
