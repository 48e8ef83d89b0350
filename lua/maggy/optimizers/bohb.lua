-- BOHB: Hyperband (see hyperband.lua) whose new configurations come from a
-- TPE model instead of uniform draws, so later brackets start from
-- configurations that looked good on earlier ones.
--
-- Each new configuration is random with probability `random_fraction`, and
-- also while no budget has enough results. Otherwise TPE (tpe.lua) proposes
-- it from the observations of the largest budget that has at least d + 2 of
-- them, d being the number of parameters. The paper builds a model from
-- N_min = d + 1 points; one more leaves TPE's "good" and "bad" groups some
-- room on that first model. Observations are the FINISHED and EARLY_STOPPED
-- trials with a value (history.lua), FAILED ones are left out, and the model
-- sees the space's parameters only (not the budget).
--
-- Parameters: those of Hyperband (eta, min_budget, max_budget, iterations;
-- not sampler) and
--   random_fraction  share of random configurations, in [0, 1] (default 1/3)
--   tpe              options for the TPE model, checked by Tpe.defaults
--                    (default {})
--
-- Paper: Falkner, Klein and Hutter, "BOHB: Robust and Efficient
-- Hyperparameter Optimization at Scale", ICML 2018 (Algorithm 2).
--
--   bohb{eta = 3, min_budget = 1, max_budget = 81, random_fraction = 1/3}

local describe = require "maggy.describe"
local Hyperband = require "maggy.optimizers.hyperband"
local budgets = require "maggy.optimizers.budgets"
local history = require "maggy.optimizers.history"
local options = require "maggy.options"
local Tpe = require "maggy.optimizers.tpe"

local Bohb = {}

local PASSED = { eta = true, min_budget = true, max_budget = true, iterations = true, brackets = true }

-- Hyperband's options out of `opts`, or nil and a message naming a bad option.
local function split(opts)
  if type(opts) ~= "table" then return nil, "expected an options table, got " .. type(opts) end
  local bad = options.unknown(opts, { "eta", "min_budget", "max_budget", "iterations", "brackets",
                                       "random_fraction", "tpe" })
  if bad then return nil, bad end
  local hb = {}
  for key, v in pairs(opts) do
    if PASSED[key] then hb[key] = v end
  end
  local f = opts.random_fraction or 1 / 3
  if type(f) ~= "number" or not (f >= 0 and f <= 1) then
    return nil, "random_fraction must be a number in [0, 1], got " .. describe(f)
  end
  if opts.tpe ~= nil and type(opts.tpe) ~= "table" then
    return nil, "tpe must be an options table, got " .. type(opts.tpe)
  end
  return hb
end

-- The observations of the largest budget with at least d + 2 of them, as
-- {params = space params, score = lower is better}, or nil.
local function model_data(ctx)
  local by_budget, seen = {}, {}
  for _, o in ipairs(history.observed(ctx)) do
    local b = o.params.budget
    if b then
      if not by_budget[b] then by_budget[b], seen[#seen + 1] = {}, b end
      table.insert(by_budget[b], { params = budgets.space_params(ctx.space, o.params), score = o.score })
    end
  end
  table.sort(seen, function(a, b) return a > b end)
  for _, b in ipairs(seen) do
    if #by_budget[b] >= ctx.space:size() + 2 then return by_budget[b] end
  end
  return nil
end

local function sampler(fraction, tpe_opts)
  return function(ctx)
    if ctx.rng:random() < fraction then return ctx.space:sample(ctx.rng) end
    local obs = model_data(ctx)
    local params = obs and Tpe.propose(ctx.space, ctx.rng, obs, tpe_opts)
    return params or ctx.space:sample(ctx.rng)
  end
end

function Bohb.new(opts)
  opts = opts or {}
  local hb, err = split(opts)
  if not hb then error("optimizers.bohb: " .. err, 2) end
  local ok, tpe = pcall(Tpe.defaults, opts.tpe or {})
  if not ok then error("optimizers.bohb: " .. tostring(tpe), 2) end
  hb.sampler = sampler(opts.random_fraction or 1 / 3, tpe)
  local self, herr = Hyperband.build(hb, "bohb")
  if not self then error(herr, 2) end
  return self
end

return Bohb
