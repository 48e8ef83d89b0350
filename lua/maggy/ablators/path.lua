-- The ablation path between two configurations (Fawcett and Hoos,
-- "Analysing differences between algorithm configurations through
-- ablation", Journal of Heuristics 22, 2016): from the base (say the
-- defaults) towards the target (say the tuned best), each round tries
-- changing each hyperparameter not changed yet to its target value, keeps
-- the change that helps most, and goes on from there. The path says which
-- of the tuned values carry the gain, in order.
--
-- Round 0 runs the base; round k the n - k + 1 candidates of step k. Every
-- configuration runs `repeats` times with the round's seeds (the same for
-- all candidates, so they compare like with like); a failed trial counts as
-- the worst. The rounds wait for each other (maggy.WAIT): R (1 + n (n + 1)
-- / 2) trials in all for n changed hyperparameters.

local WAIT = require("maggy").WAIT
local ablation = require "maggy.ablation"
local stats = require "maggy.stats"

local Path = {}
local objects = { __index = Path } -- their metatable: not Path itself (sandbox.lua)

function Path.new(opts)
  return setmetatable({ name = "path" }, objects)
end

local function study_of(ctx)
  return ablation.study_of(ctx, "path", true)
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

-- Plans the trials of a round: each candidate change (nil: none) x repeats.
local function plan_round(self, ctx, changes)
  local study = study_of(ctx)
  self.queue, self.candidates = {}, {}
  local seeds = {}
  for r = 1, study.repeats do seeds[r] = ctx.rng:randint(0, 2 ^ 31 - 1) end
  for i, name in ipairs(changes) do
    local config = copy(self.current)
    if name ~= false then config[name] = study.target[name] end
    self.candidates[i] = { change = name or nil, config = config, values = {}, pending = study.repeats }
    for r = 1, study.repeats do
      local p = copy(config)
      if study.repeats > 1 then p.seed = seeds[r] end
      self.queue[#self.queue + 1] = { params = p, candidate = i }
    end
  end
end

function Path:initialize(ctx)
  local study = study_of(ctx)
  self.current = copy(study.base)
  self.remaining = study:changed()
  self.steps = {}
  self.by_key = {}
  plan_round(self, ctx, { false })
end

local function key_of(ctx, params)
  local k = ctx.space:key(params)
  if params.seed then k = k .. ",seed=" .. params.seed end
  return k
end

function Path:suggest(ctx)
  if not self.queue then self:initialize(ctx) end
  local next = table.remove(self.queue, 1)
  if next then
    self.by_key[key_of(ctx, next.params)] = next.candidate
    return next.params
  end
  if #self.remaining == 0 and self:round_done() then return nil end
  return WAIT
end

function Path:round_done()
  for _, c in ipairs(self.candidates) do
    if c.pending > 0 then return false end
  end
  return true
end

-- The candidate's score for choosing: its mean, failures counted as the
-- worst, for the direction.
local function score(c, direction)
  local worst = direction == "min" and math.huge or -math.huge
  local sum = 0
  for _, v in ipairs(c.values) do sum = sum + (v or worst) end
  return sum / #c.values
end

local function record_step(self, ctx, c)
  local ok = {}
  for _, v in ipairs(c.values) do if v then ok[#ok + 1] = v end end
  local mean, sd = stats.mean_sd(ok)
  local step = { step = #self.steps, change = c.change, config = c.config, n = #ok,
                 failed = #c.values - #ok, mean = mean, sd = sd, ci95 = stats.ci95(sd, #ok) }
  if c.change then
    step.from, step.to = ctx.ablation.base[c.change], ctx.ablation.target[c.change]
  end
  local prev = self.steps[#self.steps]
  if prev and prev.mean and mean then step.delta = mean - prev.mean end
  self.steps[#self.steps + 1] = step
end

function Path:observe(ctx, trial)
  if not self.candidates then return end
  local i = self.by_key[key_of(ctx, trial.params)]
  local c = i and self.candidates[i]
  if not c or trial.state == "PENDING" or trial.state == "RUNNING" then return end
  c.values[#c.values + 1] = type(trial.value) == "number" and trial.state ~= "FAILED" and trial.value or false
  c.pending = c.pending - 1
  if not self:round_done() then return end
  -- The round is over: keep its best change, plan the next round.
  local best
  for _, cand in ipairs(self.candidates) do
    if not best or ctx:better(score(cand, ctx.direction), score(best, ctx.direction)) then best = cand end
  end
  record_step(self, ctx, best)
  if best.change then
    self.current = best.config
    for k, name in ipairs(self.remaining) do
      if name == best.change then table.remove(self.remaining, k); break end
    end
  end
  if #self.remaining > 0 then plan_round(self, ctx, self.remaining) end
end

function Path:count(ctx)
  local study = study_of(ctx)
  local n = #study:changed()
  return study.repeats * (1 + n * (n + 1) / 2)
end

function Path:report(ctx)
  local study = study_of(ctx)
  return { ablator = "path", metric = ctx.metric, direction = ctx.direction, repeats = study.repeats,
           path = self.steps or {} }
end

return Path
