-- Endless zero-work trials for fake executors (loadgen): the engine alone.
local maggy = require "maggy"

return maggy.experiment {
  name = "bench_noop_load",
  train = "noop:noop",
  space = maggy.searchspace { x = maggy.double(0, 1) },
  num_trials = 100000000,
  metric = "x",
  hb_interval = 1,
  seed = 1,
}
