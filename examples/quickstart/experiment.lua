-- Quickstart: random search with the median stopping rule over a pure-Python
-- training function (no third-party packages). With 2 workers it runs in
-- well under a minute, and the median rule visibly stops the weak trials.
--
--   maggy-engine run examples/quickstart/experiment.lua --workers 2
local maggy = require "maggy"

return maggy.experiment {
  name = "quickstart",
  train = "train:train",          -- module:function, found next to this file
  space = maggy.searchspace {
    learning_rate = maggy.double(1e-4, 1.0, { log = true }),
    layers = maggy.integer(1, 6),
    activation = maggy.categorical { "relu", "tanh", "sigmoid" },
    batch_size = maggy.discrete { 16, 32, 64, 128 },
  },
  optimizer = "random",
  earlystop = maggy.earlystop.median { grace = 2 },
  num_trials = 24,
  direction = "max",
  metric = "accuracy",
  hb_interval = 0.1,              -- seconds between heartbeats
  es_interval = 0.2,              -- seconds between early-stop checks
  es_min = 4,                     -- finished trials needed before stopping any
  seed = 7,
}
