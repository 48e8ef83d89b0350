-- Layer ablation: a small CNN on Fashion-MNIST without its third
-- convolution, each batch norm, all batch norms together (a group by name
-- prefix) and its dropout, twice each with different seeds.
--
--   apt-get install python3-torch dataset-fashion-mnist   (scripts/setup --with-torch)
--   maggy-engine run examples/ablation/layers.lua --workers 2
--
-- FMNIST_SUBSET (training images, default 4000) and FMNIST_EPOCHS (default
-- 4) size each trial, as for examples/fashion_mnist.
local maggy = require "maggy"

return maggy.experiment {
  name = "cnn-layers",
  train = "cnn_layers:train",
  python_path = { ".", "../fashion_mnist" },
  metric = "accuracy",
  hb_interval = 0.5,
  seed = 2,
  ablation = maggy.ablation {
    base = { learning_rate = 0.003 },
    layers = { "features.conv3", "features.bn1", "features.bn2", "features.bn3", "head.dropout" },
    layer_groups = { batchnorm = { prefix = "features.bn" } },
    repeats = 2,
  },
}
