-- Feature ablation: leave out each group of the breast-cancer measurements
-- (their means, their standard errors, their worst values) and three single
-- features, five times each with different train/test splits, and see which
-- ones the classifier needs and which effects are within noise.
--
--   maggy-engine run examples/ablation/features.lua --workers 2
local maggy = require "maggy"

local measures = { "radius", "texture", "perimeter", "area", "smoothness", "compactness",
  "concavity", "concave points", "symmetry", "fractal dimension" }

local function group(pattern)
  local names = {}
  for i, m in ipairs(measures) do names[i] = pattern:format(m) end
  return names
end

return maggy.experiment {
  name = "cancer-features",
  train = "cancer:train",
  metric = "accuracy",
  seed = 3,
  ablation = maggy.ablation {
    base = { C = 1.0 },
    features = { "worst radius", "worst texture", "worst concave points" },
    feature_groups = {
      means = group("mean %s"), errors = group("%s error"), worst = group("worst %s"),
    },
    repeats = 5,
  },
}
