-- What a model-based optimizer learns from: the trials seen so far as
-- observations, and the trials handed out but not back yet, with a made-up
-- value (a "lie") so that W idle workers do not all get the same point.
--
--   local history = require "maggy.optimizers.history"
--   local obs = history.observed(ctx)            -- done trials with a value
--   local lied = history.with_pending(ctx, obs, "worst")
--
-- An observation is {params = ..., score = ..., trial = ...}. `score` is
-- oriented so that LOWER IS BETTER whatever the experiment's direction
-- (value for "min", -value for "max"): models minimize it. Early-stopped
-- trials count with the last value they reported: usually a poor one, which
-- is what a model should learn from them.
--
-- Paper: Ginsbourger, Le Riche and Carraro, "Kriging Is Well-Suited to
-- Parallelize Optimization", 2010 (the constant liar).

local describe = require "maggy.describe"
local M = {}

local function usable(x)
  return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge
end

-- Lower is better: the value itself for "min", its negation for "max".
function M.score(ctx, value)
  if ctx.direction == "min" then return value end
  return -value
end

-- The FINISHED and EARLY_STOPPED trials with a usable value, in creation
-- order. `keep(trial)`, if given, filters them further (e.g. by budget).
function M.observed(ctx, keep)
  local out = {}
  for _, t in ipairs(ctx:trials("done")) do
    if t.state ~= "FAILED" and usable(t.value) and (keep == nil or keep(t)) then
      out[#out + 1] = { params = t.params, score = M.score(ctx, t.value), trial = t }
    end
  end
  return out
end

-- The trials that are PENDING or RUNNING, in creation order.
function M.pending(ctx, keep)
  local out = {}
  for _, t in ipairs(ctx:trials()) do
    if (t.state == "PENDING" or t.state == "RUNNING") and (keep == nil or keep(t)) then
      out[#out + 1] = t
    end
  end
  return out
end

local LIES = { worst = true, mean = true, best = true }

-- The constant lie for `obs`: the worst, mean or best score observed.
function M.lie(obs, kind)
  if not LIES[kind] then
    error(string.format("history.lie: the lie must be \"worst\", \"mean\" or \"best\", got %s", describe(kind)), 2)
  end
  local worst, best, sum = -math.huge, math.huge, 0
  for _, o in ipairs(obs) do
    if o.score > worst then worst = o.score end
    if o.score < best then best = o.score end
    sum = sum + o.score
  end
  if kind == "worst" then return worst end
  if kind == "best" then return best end
  return sum / #obs
end

-- A copy of `obs` with every pending trial added at the constant lie `kind`
-- (see M.lie). With no observations there is nothing to lie with: the copy
-- is `obs` alone.
function M.with_pending(ctx, obs, kind, keep)
  local out = {}
  for i, o in ipairs(obs) do out[i] = o end
  if #obs == 0 then return out end
  local lie = M.lie(obs, kind)
  for _, t in ipairs(M.pending(ctx, keep)) do
    out[#out + 1] = { params = t.params, score = lie, trial = t, pending = true }
  end
  return out
end

return M
