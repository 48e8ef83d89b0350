local maggy = require "maggy"
local support = require "support.strategies"
local ctx_for, add = support.ctx_for, support.add

-- Runs `opt` to the end; on WAIT every pending trial finishes with value(t).
local function run(ctx, opt, value)
  for _ = 1, 100000 do
    local s = opt:suggest(ctx)
    if s == nil then return ctx:trials() end
    if s == maggy.WAIT then
      local pending = ctx:trials("PENDING")
      assert(#pending > 0, "WAIT with nothing pending")
      for _, t in ipairs(pending) do
        t.state, t.value = "FINISHED", value(t)
        opt:observe(ctx, t)
      end
    else
      add(ctx, s)
    end
  end
  error("the run did not end")
end

local function value_of(t)
  return t.params.x * (1 + t.params.budget / 100)
end

-- bohb.lua loaded against `tpe` (the stub or the real module).
local function load_bohb(tpe)
  package.loaded["maggy.optimizers.tpe"] = tpe
  package.loaded["maggy.optimizers.bohb"] = nil
  return require "maggy.optimizers.bohb"
end

insulate("optimizers.bohb, with a stub TPE", function()
  local stub = { calls = {}, defaults_got = {} }
  function stub.defaults(opts)
    stub.defaults_got[#stub.defaults_got + 1] = opts
    return { checked = true }
  end
  function stub.propose(space, r, obs, opts)
    stub.calls[#stub.calls + 1] = { obs = obs, opts = opts }
    if stub.answer == nil then return nil end
    return stub.answer(space, r, obs)
  end
  local Bohb = load_bohb(stub)

  before_each(function()
    stub.calls, stub.defaults_got, stub.answer = {}, {}, nil
  end)

  it("is Hyperband: same brackets, count and name", function()
    local opt = Bohb.new{}
    assert.are.equal("bohb", opt.name)
    assert.are.equal(206, opt:count(ctx_for()))
    assert.are.equal(412, Bohb.new{ iterations = 2 }:count(ctx_for()))
  end)

  it("models the largest budget with d + 2 results, without the budget key", function()
    stub.answer = function(space, r) return { x = 0.5 + #stub.calls / 1000, k = 2 } end
    local ctx, opt = ctx_for(), Bohb.new{ max_budget = 9, random_fraction = 0, tpe = { gamma = 0.2 } }
    local trials = run(ctx, opt, value_of)
    -- brackets (9,1)(3,3)(1,9) / (5,3)(1,9) / (3,9): the first draws without any result
    assert.are.equal(5 + 3, #stub.calls)
    assert.are.same({ { gamma = 0.2 } }, stub.defaults_got)
    local first = stub.calls[1]
    assert.are.equal(9, #first.obs) -- budget 1: 9 results; budget 3: 3, too few for d = 2
    assert.are.same({ checked = true }, first.opts)
    for _, o in ipairs(first.obs) do
      assert.is_nil(o.params.budget)
      assert.is_true(ctx.space:validate(o.params))
      assert.are.equal(-o.params.x * 1.01, o.score) -- direction max: lower is better
    end
    assert.are.equal(3 + 5, #stub.calls[6].obs) -- budget 3 has enough by bracket 3
    local proposed = 0
    for _, t in ipairs(trials) do
      if t.params.k == 2 and t.params.x > 0.5 and t.params.x < 0.51 then proposed = proposed + 1 end
    end
    assert.is_true(proposed >= 8)
    assert.are.equal(opt:count(ctx), #trials)
  end)

  it("draws at random with random_fraction = 1, or when TPE has nothing", function()
    local ctx, opt = ctx_for(), Bohb.new{ max_budget = 9, random_fraction = 1 }
    run(ctx, opt, value_of)
    assert.are.equal(0, #stub.calls)
    local ctx2, opt2 = ctx_for(), Bohb.new{ max_budget = 9, random_fraction = 0 }
    local trials = run(ctx2, opt2, value_of) -- propose returns nil: random
    assert.are.equal(8, #stub.calls)
    assert.are.equal(opt2:count(ctx2), #trials)
  end)

  it("leaves about random_fraction of the new configurations to chance", function()
    local ctx, opt = ctx_for(3), Bohb.new{ iterations = 3 }
    stub.answer = function(space, r) return space:sample(r) end
    run(ctx, opt, value_of)
    local draws = 3 * (81 + 34 + 15 + 8 + 5)
    local model_draws = draws - 81 -- the very first bracket has no results to model
    assert.is_true(math.abs(#stub.calls / model_draws - 2 / 3) < 0.1)
  end)

  it("is deterministic for a seed", function()
    stub.answer = function(space, r) return space:sample(r) end
    local function params(seed)
      local out = {}
      for i, t in ipairs(run(ctx_for(seed), Bohb.new{ max_budget = 27 }, value_of)) do out[i] = t.params end
      return out
    end
    assert.are.same(params(4), params(4))
    assert.are_not.same(params(4), params(5))
  end)

  it("rejects bad options, naming them", function()
    local cases = {
      { { random_fraction = 1.5 }, "random_fraction must be a number in [0, 1], got number 1.5" },
      { { random_fraction = "0" }, "random_fraction must be a number in [0, 1], got string '0'" },
      { { tpe = 3 }, "tpe must be an options table, got number" },
      { { sampler = function() end },
        "unknown option 'sampler' (valid: eta, min_budget, max_budget, iterations, brackets, random_fraction, tpe)" },
      { { eta = 1 }, "eta must be a number >= 2, got number 1" },
      { { iterations = -1 }, "iterations must be a positive integer, got number -1" },
    }
    for _, c in ipairs(cases) do
      assert.has_error(function() Bohb.new(c[1]) end, "optimizers.bohb: " .. c[2])
    end
  end)
end)

insulate("optimizers.bohb, with the real TPE", function()
  package.loaded["maggy.optimizers.tpe"] = nil
  local found = pcall(require, "maggy.optimizers.tpe")
  if not found then
    pending("lua/maggy/optimizers/tpe.lua does not load")
    return
  end
  local Bohb = load_bohb(require "maggy.optimizers.tpe")

  local function loss(t) return (t.params.x - 0.3) ^ 2 + 0.01 * t.params.k + 1 / t.params.budget end

  it("runs Hyperband to the end with valid, distinct suggestions", function()
    local ctx, opt = ctx_for(1, "min"), Bohb.new{ max_budget = 27, iterations = 2 }
    local trials = run(ctx, opt, loss)
    assert.are.equal(opt:count(ctx), #trials)
    local seen = {}
    for _, t in ipairs(trials) do
      local p = {}
      for k, v in pairs(t.params) do p[k] = v end
      p.budget = nil
      assert.is_true(ctx.space:validate(p))
      local key = ctx.space:key(p) .. "@" .. t.params.budget
      assert.is_nil(seen[key])
      seen[key] = true
    end
  end)

  it("is deterministic for a seed", function()
    local function params(seed)
      local out = {}
      for i, t in ipairs(run(ctx_for(seed, "min"), Bohb.new{ max_budget = 27 }, loss)) do out[i] = t.params end
      return out
    end
    assert.are.same(params(6), params(6))
  end)

  it("reports a bad TPE option", function()
    assert.has_error(function() Bohb.new{ tpe = { gamma = 2 } } end,
      "optimizers.bohb: optimizers.tpe: option 'gamma' must be a number in (0, 1), got 2")
  end)
end)
