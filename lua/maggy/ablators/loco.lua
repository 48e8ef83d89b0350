-- LOCO (leave one component out): the base configuration, then one trial
-- per component and per group with that component (or group) left out; with
-- `repeats = R` in the study, all of it R times, repeat r of every
-- configuration with the same seed (so the differences to the base compare
-- like with like). Trials come repeat by repeat, base first in each.
--
-- Paper: the ablation studies of Maggy (Meister et al., "Maggy: Scalable
-- Asynchronous Parallel Hyperparameter Search", DistributedML 2020), which
-- ran each configuration once; the repeats and confidence intervals here
-- tell a real effect from noise.

local ablation = require "maggy.ablation"

local Loco = {}
local objects = { __index = Loco } -- their metatable: not Loco itself (sandbox.lua)

function Loco.new(opts)
  return setmetatable({ name = "loco" }, objects)
end

local function study_of(ctx)
  return ablation.study_of(ctx, "loco")
end

-- The whole plan: repeats x (base + items), drawn seeds shared by a repeat.
function Loco:initialize(ctx)
  local study = study_of(ctx)
  self.plan, self.next = {}, 1
  for _ = 1, study.repeats do
    local seed = ctx.rng:randint(0, 2 ^ 31 - 1)
    self.plan[#self.plan + 1] = study:params(nil, seed)
    for _, item in ipairs(study.items) do
      self.plan[#self.plan + 1] = study:params(item, seed)
    end
  end
end

function Loco:suggest(ctx)
  if not self.plan then self:initialize(ctx) end
  local p = self.plan[self.next]
  self.next = self.next + 1
  return p
end

function Loco:count(ctx)
  local study = study_of(ctx)
  return study.repeats * (1 + #study.items)
end

function Loco:report(ctx)
  return study_of(ctx):report(ctx)
end

return Loco
