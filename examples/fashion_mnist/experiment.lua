-- Fashion-MNIST: the experiment of the Maggy paper (random search over a
-- small CNN with the median stopping rule), on a CPU-sized subset.
--
--   apt-get install python3-torch dataset-fashion-mnist   (scripts/setup --with-torch)
--   maggy-engine run examples/fashion_mnist/experiment.lua --workers 2
--
-- FMNIST_SUBSET (training images, default 4000) and FMNIST_EPOCHS (default
-- 4) size each trial; see README.md.
local maggy = require "maggy"

return maggy.experiment {
  name = "fashion_mnist",
  train = "train:train",
  space = maggy.searchspace {            -- Listing 4 of the paper
    kernel = maggy.integer(2, 8),
    pool = maggy.integer(2, 8),
    dropout = maggy.double(0.01, 0.99),
    learning_rate = maggy.double(1e-6, 0.99, { log = true }),
  },
  optimizer = "random",
  earlystop = maggy.earlystop.median { grace = 1 },
  num_trials = 20,
  direction = "max",
  metric = "accuracy",
  hb_interval = 0.5,
  es_interval = 1,
  es_min = 4,
  seed = 1,
}
