-- Latency of one suggest() of the GP optimizer (lua/maggy/optimizers/gp.lua)
-- after N finished trials, in two spaces: 6 categorical parameters of 5
-- values each (NAS-Bench-201's shape: 30 one-hot inputs), and 10
-- continuous ones. Prints, per N: the first suggestion of a fresh optimizer
-- (hyperparameters fitted from scratch) and the median of the next few, each
-- after one more trial ends (the steady state: the fit starts from the
-- previous one). The sizes run one after the other in one process, as a run
-- grows: that is where the trace compiler used to give up on short loops
-- and leave them interpreted (docs/performance.md).
--
--   luajit tests/bench/gp_latency.lua [N ...]     (from the repository root;
--                                                  default N: 50 100 150
--                                                  200 500)
--
-- Target (DESIGN.md): under 200 ms at N = 500. Figures depend on the machine.

package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local maggy = require "maggy"
local Ctx = require "maggy.ctx"
local Trial = require "maggy.trial"
local rng = require "maggy.rng"
local gp = require "maggy.optimizers.gp"

local DIMS, STEADY_CALLS = 10, 5
local CHOICES = { "a", "b", "c", "d", "e" }

-- Levy's function, a smooth multimodal benchmark, on [-10, 10]^10.
local function levy(p)
  local w = {}
  for i = 1, DIMS do w[i] = 1 + (p["x" .. i] - 1) / 4 end
  local s = math.sin(math.pi * w[1]) ^ 2
  for i = 1, DIMS - 1 do
    s = s + (w[i] - 1) ^ 2 * (1 + 10 * math.sin(math.pi * w[i] + 1) ^ 2)
  end
  return s + (w[DIMS] - 1) ^ 2 * (1 + math.sin(2 * math.pi * w[DIMS]) ^ 2)
end

-- A score for 6 categorical choices: each position has its own best value,
-- some positions matter more (as some operations do in NAS-Bench-201).
local function cells(p)
  local s = 0
  for i = 1, 6 do
    local c = p["op" .. i]:byte() - 96
    s = s + i * ((c + i) % 5)
  end
  return s
end

local SPACES = {
  { title = "6 categorical parameters of 5 values (30 inputs)", score = cells, params = function()
      local params = {}
      for i = 1, 6 do params["op" .. i] = maggy.categorical(CHOICES) end
      return params
    end },
  { title = "10 continuous parameters (Levy)", score = levy, params = function()
      local params = {}
      for i = 1, DIMS do params["x" .. i] = maggy.double(-10, 10) end
      return params
    end },
}

local function new_ctx(space)
  return Ctx.new({ space = maggy.searchspace(space.params()), rng = rng.new(1), direction = "min" })
end

local function finish(ctx, space, params)
  local seq = #ctx:trials() + 1
  local t = Trial.new(string.format("%016x", seq), seq, params)
  t.state, t.value = "FINISHED", space.score(params)
  Ctx.add_trial(ctx, t)
end

local function timed_suggest(opt, ctx)
  local t0 = os.clock()
  local params = opt:suggest(ctx)
  return (os.clock() - t0) * 1000, params
end

local function median(list)
  table.sort(list)
  return list[math.ceil(#list / 2)]
end

local function measure(space, n)
  local ctx, opt = new_ctx(space), gp.new{}
  for _ = 1, n do finish(ctx, space, ctx.space:sample(ctx.rng)) end
  local first, params = timed_suggest(opt, ctx)
  local steady = {}
  for i = 1, STEADY_CALLS do
    finish(ctx, space, params)
    steady[i], params = timed_suggest(opt, ctx)
  end
  print(string.format("N = %4d  first suggest %7.1f ms   steady (median of %d) %7.1f ms",
                      n, first, STEADY_CALLS, median(steady)))
end

local sizes = {}
for i, a in ipairs(arg) do sizes[i] = assert(tonumber(a), "N must be a number") end
if #sizes == 0 then sizes = { 50, 100, 150, 200, 500 } end
for _, space in ipairs(SPACES) do
  print(space.title)
  for _, n in ipairs(sizes) do measure(space, n) end
end
