-- 3000 zero-work trials on local executors (the real shim and CPython).
local maggy = require "maggy"

return maggy.experiment {
  name = "bench_noop_local",
  train = "noop:noop",
  space = maggy.searchspace { x = maggy.double(0, 1) },
  num_trials = 3000,
  metric = "x",
  hb_interval = 1,
  seed = 1,
}
