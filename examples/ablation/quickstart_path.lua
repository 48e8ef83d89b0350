-- The ablation path between the quickstart's defaults and the best
-- configuration its random search found: which of the tuned values carry
-- the gain, in order (Fawcett and Hoos 2016). 4 changed hyperparameters,
-- so 1 + 4 + 3 + 2 + 1 = 11 trials.
--
--   maggy-engine run examples/ablation/quickstart_path.lua --workers 2
local maggy = require "maggy"

return maggy.experiment {
  name = "quickstart-path",
  train = "train:train",
  python_path = "../quickstart",
  metric = "accuracy",
  hb_interval = 0.1,
  ablation = maggy.ablation {
    base = { learning_rate = 0.001, layers = 2, activation = "sigmoid", batch_size = 16 },
    target = { learning_rate = 0.0276166499421726, layers = 6, activation = "tanh", batch_size = 128 },
  },
}
