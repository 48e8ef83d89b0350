-- How long one TPE suggestion takes after many finished trials.
--
--   luajit tests/bench/tpe_latency.lua [trials] [repeats]   (from the repo root)
--
-- Builds a 10-parameter space of every type (log DOUBLE and INTEGER,
-- DISCRETE, CATEGORICAL), fills a ctx with `trials` FINISHED trials (default
-- 1000) at random points with a made-up value, and times `repeats` suggest()
-- calls (default 50) with the default options and with multivariate = false.
-- Prints milliseconds per call. The target is < 5 ms for 1000 trials.

package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local maggy = require "maggy"
local Ctx = require "maggy.ctx"
local Trial = require "maggy.trial"
local rng = require "maggy.rng"
local Tpe = require "maggy.optimizers.tpe"

local n_trials = tonumber(arg[1]) or 1000
local repeats = tonumber(arg[2]) or 50

local function space()
  return maggy.searchspace{
    lr = maggy.double(1e-5, 1, { log = true }), momentum = maggy.double(0, 1),
    dropout = maggy.double(0, 0.9), decay = maggy.double(1e-6, 1e-2, { log = true }),
    layers = maggy.integer(1, 8), units = maggy.integer(16, 1024, { log = true }),
    batch = maggy.discrete{ 16, 32, 64, 128, 256 }, kernel = maggy.discrete{ 3, 5, 7 },
    act = maggy.categorical{ "relu", "tanh", "gelu", "elu" }, bn = maggy.categorical{ true, false },
  }
end

-- A smooth made-up objective so that the good points are not scattered.
local function value(p)
  local v = math.log10(p.lr) + 3
  return v * v + (p.momentum - 0.9) ^ 2 + p.dropout + p.layers / 8 + (p.act == "gelu" and 0 or 0.5)
end

local function filled_ctx()
  local ctx = Ctx.new{ space = space(), rng = rng.new(1), direction = "min" }
  local draw = rng.new(2)
  for i = 1, n_trials do
    local p = ctx.space:sample(draw)
    local t = Trial.new(string.format("%016x", i), i, p)
    t.state, t.value = "FINISHED", value(p)
    Ctx.add_trial(ctx, t)
  end
  return ctx
end

local function time_suggest(opts)
  local ctx, opt = filled_ctx(), Tpe.new(opts)
  opt:suggest(ctx) -- warm up the JIT
  local t0 = os.clock()
  for _ = 1, repeats do opt:suggest(ctx) end
  return (os.clock() - t0) / repeats * 1000
end

print(string.format("tpe suggest, %d finished trials, 10 parameters:", n_trials))
print(string.format("  multivariate (default)  %.2f ms", time_suggest({})))
print(string.format("  univariate              %.2f ms", time_suggest({ multivariate = false })))
