-- A custom optimizer (local_search.lua, next to this file) on a training
-- function with a known optimum: Branin, shifted so that its minimum is 0.
--
--   maggy-engine run examples/custom_optimizer/experiment.lua --workers 2
--   maggy-engine simulate examples/custom_optimizer/experiment.lua --benchmark branin
--
-- `simulate` swaps the training function for the benchmark (same
-- function, its own space) and runs the same optimizer on a virtual clock.
local maggy = require "maggy"
local LocalSearch = require "local_search"

return maggy.experiment {
  name = "custom-optimizer",
  train = "branin:train",
  space = maggy.searchspace {
    x1 = maggy.double(-5, 10),
    x2 = maggy.double(0, 15),
  },
  optimizer = LocalSearch.new { step = 0.15 },
  num_trials = 40,
  direction = "min",
  metric = "loss",
  seed = 1,
}
