-- A user ablator: leave out every pair of components, to find the ones that
-- only matter together (LOCO misses a component whose work another can do).
-- An ablator is an optimizer: it sees the study as ctx.ablation and builds
-- trial params with study:params(items, seed); report() says what to show.
--
--   maggy-engine run examples/ablation/leave_two_out.lua --workers 2
local maggy = require "maggy"

local LeaveTwoOut = { name = "leave-two-out" }
LeaveTwoOut.__index = LeaveTwoOut

-- Each pair of the study's items, in order.
local function pairs_of(items)
  local out = {}
  for i = 1, #items do
    for j = i + 1, #items do out[#out + 1] = { items[i], items[j] } end
  end
  return out
end

function LeaveTwoOut:initialize(ctx)
  local study = ctx.ablation
  self.plan, self.next = {}, 1
  for _ = 1, study.repeats do
    local seed = ctx.rng:randint(0, 2 ^ 31 - 1)
    self.plan[#self.plan + 1] = study:params(nil, seed)
    for _, pair in ipairs(pairs_of(study.items)) do
      self.plan[#self.plan + 1] = study:params(pair, seed)
    end
  end
end

function LeaveTwoOut:suggest(ctx)
  local p = self.plan[self.next]
  self.next = self.next + 1
  return p
end

function LeaveTwoOut:count(ctx)
  local n = #ctx.ablation.items
  return ctx.ablation.repeats * (1 + n * (n - 1) / 2)
end

function LeaveTwoOut:report(ctx)
  return ctx.ablation:report(ctx, pairs_of(ctx.ablation.items))
end

return maggy.experiment {
  name = "cancer-pairs",
  train = "cancer:train",
  metric = "accuracy",
  seed = 3,
  ablation = maggy.ablation {
    base = { C = 1.0 },
    features = { "worst radius", "worst perimeter", "worst area", "worst concave points" },
    repeats = 3,
    ablator = setmetatable({}, LeaveTwoOut),
  },
}
