local maggy = require "maggy"
local support = require "support.strategies"
local Hyperband = require "maggy.optimizers.hyperband"
local ctx_for, add, finish = support.ctx_for, support.add, support.finish

local function value_of(t)
  return t.params.x * (1 + t.params.budget / 100)
end

-- Runs `opt` to the end; on WAIT every pending trial ends with outcome(t)
-- (a value, and optionally a state). Returns the batches of suggestions made
-- between two WAITs, each a list of trials.
local function run(ctx, opt, outcome)
  outcome = outcome or value_of
  local batches, batch = {}, nil
  for _ = 1, 100000 do
    local s = opt:suggest(ctx)
    if s == nil then return batches end
    if s == maggy.WAIT then
      local pending = ctx:trials("PENDING")
      assert(#pending > 0, "WAIT with nothing pending")
      for _, t in ipairs(pending) do
        local value, state = outcome(t)
        finish(ctx, opt, t, value, state)
      end
      batch = nil
    else
      if not batch then batch = {}; batches[#batches + 1] = batch end
      batch[#batch + 1] = add(ctx, s)
    end
  end
  error("the run did not end")
end

local function config_key(ctx, t)
  return ctx.space:key(t.params)
end

describe("optimizers.hyperband", function()
  it("has the brackets of the paper for eta = 3, budgets 1 to 81", function()
    local pairs_of = {}
    for i, b in ipairs(Hyperband.brackets(3, 1, 81)) do
      pairs_of[i] = {}
      for j, rung in ipairs(b) do pairs_of[i][j] = { rung.n, rung.budget } end
    end
    assert.are.same({
      { { 81, 1 }, { 27, 3 }, { 9, 9 }, { 3, 27 }, { 1, 81 } },
      { { 34, 3 }, { 11, 9 }, { 3, 27 }, { 1, 81 } },
      { { 15, 9 }, { 5, 27 }, { 1, 81 } },
      { { 8, 27 }, { 2, 81 } },
      { { 5, 81 } },
    }, pairs_of)
  end)

  it("rounds budgets when eta and both budgets are integers", function()
    local budgets = {}
    for i, rung in ipairs(Hyperband.brackets(3, 1, 100)[1]) do budgets[i] = rung.budget end
    assert.are.same({ 1, 4, 11, 33, 100 }, budgets)
    local b = Hyperband.brackets(2, 0.5, 2)[1]
    assert.are.same({ { n = 4, budget = 0.5 }, { n = 2, budget = 1 }, { n = 1, budget = 2 } }, b)
    assert.are.same({ { { n = 1, budget = 7 } } }, Hyperband.brackets(3, 7, 7))
  end)

  it("counts the trials of all brackets and iterations", function()
    assert.are.equal(206, Hyperband.new{}:count(ctx_for()))
    assert.are.equal(412, Hyperband.new{ iterations = 2 }:count(ctx_for()))
    assert.are.equal(1, Hyperband.new{ max_budget = 1 }:count(ctx_for()))
  end)

  it("runs the rungs of the plan in order, each between two WAITs", function()
    local ctx, opt = ctx_for(), Hyperband.new{}
    local batches = run(ctx, opt)
    local got, want = {}, {}
    for _, b in ipairs(batches) do
      for _, t in ipairs(b) do assert.are.equal(b[1].params.budget, t.params.budget) end
      got[#got + 1] = { #b, b[1].params.budget }
    end
    for _, b in ipairs(Hyperband.brackets(3, 1, 81)) do
      for _, rung in ipairs(b) do want[#want + 1] = { rung.n, rung.budget } end
    end
    assert.are.same(want, got)
    assert.are.equal(opt:count(ctx), #ctx:trials())
    assert.is_nil(opt:suggest(ctx))
    assert.is_nil(opt:suggest(ctx))
  end)

  it("keeps exactly the best floor(n / eta) configurations of each rung", function()
    local ctx, opt = ctx_for(5, "min"), Hyperband.new{ max_budget = 27 }
    local batches = run(ctx, opt)
    local promotions = 0
    for i = 2, #batches do
      local prev, cur = batches[i - 1], batches[i]
      if cur[1].params.budget > prev[1].params.budget then -- same bracket
        promotions = promotions + 1
        local ranked = {}
        for j, t in ipairs(prev) do ranked[j] = t end
        table.sort(ranked, function(a, b) return a.value < b.value end)
        assert.are.equal(math.floor(#prev / 3), #cur)
        local want, got = {}, {}
        for j = 1, #cur do
          want[config_key(ctx, ranked[j])] = true
          got[config_key(ctx, cur[j])] = true
        end
        assert.are.same(want, got)
      end
    end
    assert.are.equal(3 + 2 + 1, promotions)
  end)

  it("waits while a rung is incomplete", function()
    local ctx, opt = ctx_for(), Hyperband.new{ max_budget = 9 }
    local first = {}
    for i = 1, 9 do first[i] = add(ctx, opt:suggest(ctx)) end
    assert.are.equal(maggy.WAIT, opt:suggest(ctx))
    for i = 1, 8 do finish(ctx, opt, first[i], i) end
    assert.are.equal(maggy.WAIT, opt:suggest(ctx))
    first[9].state = "RUNNING"
    assert.are.equal(maggy.WAIT, opt:suggest(ctx))
    finish(ctx, opt, first[9], 0)
    local up = opt:suggest(ctx)
    assert.are.equal(3, up.budget)
    assert.are.equal(ctx.space:key(first[8].params), ctx.space:key(up))
  end)

  it("counts FAILED trials as the worst and EARLY_STOPPED ones with their value", function()
    local ctx, opt = ctx_for(), Hyperband.new{ max_budget = 3 } -- brackets (3,1)(1,3) / (2,3)
    local t = {}
    for i = 1, 3 do t[i] = add(ctx, opt:suggest(ctx)) end
    finish(ctx, opt, t[1], 100, "FAILED")
    t[2]:add_point(1, 0.2); t[2]:add_point(2, 0.6)
    finish(ctx, opt, t[2], nil, "EARLY_STOPPED") -- counts with its last report, 0.6
    finish(ctx, opt, t[3], 0.5)
    local up = opt:suggest(ctx)
    assert.are.equal(ctx.space:key(t[2].params), ctx.space:key(up))
    finish(ctx, opt, add(ctx, up), nil, "FAILED")
    local nxt = opt:suggest(ctx)
    assert.are.equal(3, nxt.budget) -- the next bracket
  end)

  it("finishes a run where every trial fails", function()
    local ctx, opt = ctx_for(), Hyperband.new{ max_budget = 9 }
    run(ctx, opt, function() return nil, "FAILED" end)
    assert.are.equal(opt:count(ctx), #ctx:trials())
  end)

  it("is deterministic for a seed and differs between seeds", function()
    local function params(seed)
      local ctx = ctx_for(seed)
      run(ctx, Hyperband.new{ max_budget = 27, iterations = 2 })
      local out = {}
      for i, t in ipairs(ctx:trials()) do out[i] = t.params end
      return out
    end
    assert.are.same(params(9), params(9))
    assert.are_not.same(params(9), params(10))
  end)

  it("draws new configurations from the sampler, with the rung's budget", function()
    local calls = 0
    local opt = Hyperband.new{ max_budget = 9, sampler = function(ctx, budget)
      calls = calls + 1
      return { x = calls / 1000, k = 1, budget = -1 }
    end }
    local ctx = ctx_for()
    local first = opt:suggest(ctx)
    assert.are.same({ x = 0.001, k = 1, budget = 1 }, first)
    add(ctx, first)
    run(ctx, opt)
    assert.are.equal(9 + 5 + 3, calls)
    assert.has_error(function()
      Hyperband.new{ sampler = function() return "x" end }:suggest(ctx)
    end, "optimizers.hyperband: the sampler must return a params table, got string")
  end)

  it("never repeats a trial and still ends in a space too small for a bracket", function()
    local space = maggy.searchspace{ c = maggy.categorical{ "a", "b" } }
    local ctx, opt = ctx_for(2, "max", space), Hyperband.new{ max_budget = 9, iterations = 2 }
    run(ctx, opt, function(t) return t.params.c == "a" and 1 or 0 end)
    local seen = {}
    for _, t in ipairs(ctx:trials()) do
      local key = space:key(t.params) .. "@" .. t.params.budget
      assert.is_nil(seen[key])
      seen[key] = true
    end
    assert.is_true(#ctx:trials() < opt:count(ctx))
    assert.is_nil(opt:suggest(ctx))
  end)

  it("reuses the result of a promoted configuration that already ran at that budget", function()
    -- brackets (3,1)(1,3) / (2,3), twice; the second pass draws x = 0.4 at
    -- budget 1, where it is the best, but it already ran at budget 3.
    local xs, i = { 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.4, 0.8, 0.9 }, 0
    local opt = Hyperband.new{ max_budget = 3, iterations = 2, sampler = function()
      i = i + 1
      return { x = xs[i], k = 1 }
    end }
    local ctx = ctx_for(1, "min")
    local batches = run(ctx, opt, function(t) return t.params.x end)
    local got = {}
    for j, b in ipairs(batches) do
      got[j] = {}
      for _, t in ipairs(b) do got[j][#got[j] + 1] = t.params.x .. "@" .. t.params.budget end
    end
    assert.are.same({
      { "0.1@1", "0.2@1", "0.3@1" }, { "0.1@3" }, { "0.4@3", "0.5@3" },
      { "0.6@1", "0.7@1", "0.4@1" }, { "0.8@3", "0.9@3" },
    }, got)
    assert.are.equal(12, opt:count(ctx))
  end)

  it("rejects bad options, naming them", function()
    local cases = {
      { { eta = 1.5 }, "eta must be a number >= 2, got number 1.5" },
      { { eta = 0 / 0 }, "eta must be a number >= 2, got number " .. tostring(0 / 0) },
      { { min_budget = 0 }, "min_budget must be a number > 0, got number 0" },
      { { min_budget = 100 }, "max_budget must be a number >= min_budget (100), got number 81" },
      { { max_budget = "81" }, "max_budget must be a number >= min_budget (1), got string '81'" },
      { { iterations = 0 }, "iterations must be a positive integer, got number 0" },
      { { iterations = 1.5 }, "iterations must be a positive integer, got number 1.5" },
      { { sampler = {} }, "sampler must be a function(ctx, budget), got table" },
      { { etta = 3 }, "unknown option 'etta' (valid: eta, min_budget, max_budget, iterations, brackets, sampler)" },
    }
    for _, c in ipairs(cases) do
      assert.has_error(function() Hyperband.new(c[1]) end, "optimizers.hyperband: " .. c[2])
    end
    assert.has_error(function() Hyperband.brackets(3, 2, 1) end,
      "optimizers.hyperband: max_budget must be a number >= min_budget (2), got number 1")
  end)
end)

describe("optimizers.hyperband brackets option", function()
  it("runs only the most aggressive brackets: brackets = 1 is successive halving", function()
    local ctx = ctx_for()
    assert.are.equal(81 + 27 + 9 + 3 + 1, Hyperband.new{ brackets = 1 }:count(ctx))
    assert.are.equal(121 + 34 + 11 + 3 + 1, Hyperband.new{ brackets = 2 }:count(ctx))
    assert.has_error(function() Hyperband.new{ brackets = 0 } end)
  end)
end)
