-- The median stopping rule: stop a running trial whose best value so far is
-- worse than the median of what finished trials had reached, on average, at
-- the same step. It is the percentile rule at 50 (see percentile.lua for the
-- exact definition).
--
-- Parameters:
--   grace       never judge a trial before this step (default 0, as in
--               Maggy). On real learning curves a few steps of grace keep
--               the slow starters that end best: see docs/simulate.md.
--   min_trials  averages needed before judging (default: the experiment's
--               es_min)
--
-- Paper: Golovin et al., "Google Vizier: A Service for Black-Box
-- Optimization", KDD 2017, section 3.2.1 (automated early stopping); used by
-- Maggy with es_min = 4 (Meister et al., "Maggy: Scalable Asynchronous
-- Parallel Hyperparameter Search", DistributedML 2020).

local Percentile = require "maggy.earlystop.percentile"
local options = require "maggy.options"

local Median = {}

function Median.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error("earlystop.median: expected an options table, got " .. type(opts), 2)
  end
  if opts.percentile ~= nil then
    error("earlystop.median: has no percentile option (use maggy.earlystop.percentile)", 2)
  end
  local bad = options.unknown(opts, { "grace", "min_trials" })
  if bad then error("earlystop.median: " .. bad, 2) end
  return Percentile.build("median", { grace = opts.grace, min_trials = opts.min_trials })
end

return Median
