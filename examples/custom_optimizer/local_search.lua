-- A user-written optimizer: local search around the best trial so far.
--
-- After a few random trials it proposes points near the best one, with a
-- step that shrinks each time `patience` trials in a row bring no
-- improvement, and now and then a random point to keep exploring. About 40
-- lines: the whole contract is `new` and `suggest`; `observe` is optional.
--
--   local LocalSearch = require "local_search"
--   optimizer = LocalSearch.new{ step = 0.2 }

local LocalSearch = {}
LocalSearch.__index = LocalSearch

function LocalSearch.new(opts)
  opts = opts or {}
  return setmetatable({
    name = "local_search",
    random_trials = opts.random_trials or 5, -- random trials before searching locally
    step = opts.step or 0.2,                 -- normal step, in the unit cube
    shrink = opts.shrink or 0.5,             -- step *= shrink after `patience` misses
    patience = opts.patience or 4,
    explore = opts.explore or 0.1,           -- share of random suggestions
    misses = 0,
  }, LocalSearch)
end

function LocalSearch:suggest(ctx)
  local best = ctx:best()
  if best == nil or #ctx:trials("done") < self.random_trials or ctx.rng:random() < self.explore then
    return ctx.space:sample(ctx.rng)
  end
  -- Every parameter as a number in [0, 1]: log scales, integers and
  -- categories are handled by the space.
  local u = ctx.space:to_unit(best.params)
  for i = 1, #u do u[i] = u[i] + ctx.rng:normal(0, self.step) end
  return ctx.space:from_unit(u) -- clamps to the bounds and rounds
end

-- Called once per trial when it ends.
function LocalSearch:observe(ctx, trial)
  if trial == ctx:best() then
    self.misses = 0
    return
  end
  self.misses = self.misses + 1
  if self.misses >= self.patience then
    self.step, self.misses = self.step * self.shrink, 0
    ctx:log("local_search: no improvement in %d trials, step now %.3g", self.patience, self.step)
  end
end

return LocalSearch
