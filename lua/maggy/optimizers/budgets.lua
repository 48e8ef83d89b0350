-- What the multi-fidelity optimizers (ASHA, Hyperband, BOHB) share: their
-- budget options, a trial's params without its budget, and the score of an
-- ended trial at its budget.
--
--   local budgets = require "maggy.optimizers.budgets"
--   local err = budgets.check(opts, { "eta", "min_budget", "max_budget", "sampler" })

local describe = require "maggy.describe"
local history = require "maggy.optimizers.history"
local options = require "maggy.options"

local M = {}

function M.is_finite(x)
  return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge
end

function M.is_integer(x)
  return M.is_finite(x) and x == math.floor(x)
end

-- nil, or a message naming the first bad option: an option not in `known`,
-- eta < 2, min_budget <= 0, max_budget < min_budget, a sampler that is not a
-- function. Options of their own the caller checks itself.
function M.check(opts, known)
  if type(opts) ~= "table" then return "expected an options table, got " .. type(opts) end
  local bad = options.unknown(opts, known)
  if bad then return bad end
  local eta, lo, hi = opts.eta or 3, opts.min_budget or 1, opts.max_budget or 81
  if not M.is_finite(eta) or eta < 2 then return "eta must be a number >= 2, got " .. describe(eta) end
  if not M.is_finite(lo) or lo <= 0 then return "min_budget must be a number > 0, got " .. describe(lo) end
  if not M.is_finite(hi) or hi < lo then
    return string.format("max_budget must be a number >= min_budget (%s), got %s", tostring(lo), describe(hi))
  end
  if opts.sampler ~= nil and type(opts.sampler) ~= "function" then
    return "sampler must be a function(ctx, budget), got " .. type(opts.sampler)
  end
  return nil
end

-- The default sampler of new configurations.
function M.random_sampler(ctx)
  return ctx.space:sample(ctx.rng)
end

-- The space's params of a trial, without the budget.
function M.space_params(space, params)
  local out = {}
  for _, name in ipairs(space:names()) do out[name] = params[name] end
  return out
end

-- A canonical string for a configuration at a budget.
function M.key(space, params, budget)
  return space:key(params) .. string.format(",budget=%.17g", budget)
end

-- Lower is better (history.score). An early-stopped trial without a value
-- counts with the last value it reported; FAILED, or no usable value at
-- all, is the worst.
function M.trial_score(ctx, t)
  local value = t.value
  if t.state == "EARLY_STOPPED" and not M.is_finite(value) then value = select(2, t:last()) end
  if t.state == "FAILED" or not M.is_finite(value) then return math.huge end
  return history.score(ctx, value)
end

return M
