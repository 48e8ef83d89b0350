local maggy = require "maggy"
local support = require "support.strategies"
local Asha = require "maggy.optimizers.asha"
local budgets_mod = require "maggy.optimizers.budgets"
local rng = require "maggy.rng"
local ctx_for, add, finish = support.ctx_for, support.add, support.finish

-- Suggests one trial and ends it at once with `value`.
local function run_one(ctx, opt, value, state)
  local t = add(ctx, opt:suggest(ctx))
  finish(ctx, opt, t, value, state)
  return t
end

local function same_config(a, b)
  return a.x == b.x and a.k == b.k
end

describe("optimizers.asha", function()
  it("puts rung k at min_budget * eta^k and the top rung at max_budget", function()
    assert.are.same({ 1, 3, 9, 27, 81 }, Asha.budgets(3, 1, 81))
    assert.are.same({ 1, 3, 9, 27, 100 }, Asha.budgets(3, 1, 100))
    assert.are.same({ 0.5, 1, 2, 4 }, Asha.budgets(2, 0.5, 4))
    assert.are.same({ 2, 4, 10 }, Asha.budgets(2, 2, 10)) -- K = floor(log2(5)) = 2
    assert.are.same({ 5 }, Asha.budgets(3, 5, 5))
    assert.are.same({ 1, 3, 9, 27, 81 }, Asha.new{}.budgets)
  end)

  it("starts new configurations on the bottom rung", function()
    local ctx, opt = ctx_for(), Asha.new{}
    for _ = 1, 5 do
      local s = opt:suggest(ctx)
      assert.are.equal(1, s.budget)
      s.budget = nil
      assert.is_true(ctx.space:validate(s))
      add(ctx, s)
    end
  end)

  it("promotes the best of three bottom results, once", function()
    local ctx, opt = ctx_for(), Asha.new{}
    run_one(ctx, opt, 0.1)
    local best = run_one(ctx, opt, 0.5)
    run_one(ctx, opt, 0.3)
    local up = opt:suggest(ctx)
    assert.are.equal(3, up.budget)
    assert.is_true(same_config(best.params, up))
    add(ctx, up)
    for _ = 1, 2 do -- the top third of three is one: nothing more to promote
      assert.are.equal(1, add(ctx, opt:suggest(ctx)).params.budget)
    end
  end)

  it("promotes the next best once the rung holds six results", function()
    local ctx, opt = ctx_for(), Asha.new{}
    local by_value = {}
    for _, v in ipairs({ 0.1, 0.5, 0.3 }) do by_value[v] = run_one(ctx, opt, v) end
    add(ctx, opt:suggest(ctx)) -- promotes 0.5
    for _, v in ipairs({ 0.2, 0.4, 0.05 }) do by_value[v] = run_one(ctx, opt, v) end
    local up = opt:suggest(ctx)
    assert.are.equal(3, up.budget)
    assert.is_true(same_config(by_value[0.4].params, up))
  end)

  it("minimizes when the direction is min", function()
    local ctx, opt = ctx_for(1, "min"), Asha.new{}
    local low = run_one(ctx, opt, 0.1)
    run_one(ctx, opt, 0.5)
    run_one(ctx, opt, 0.3)
    assert.is_true(same_config(low.params, opt:suggest(ctx)))
  end)

  it("promotes from the highest rung first", function()
    local ctx, opt = ctx_for(), Asha.new{}
    local bottom = {}
    for i = 1, 9 do bottom[i] = add(ctx, opt:suggest(ctx)) end
    for i, t in ipairs(bottom) do finish(ctx, opt, t, i / 10) end
    local ups = {}
    for i = 1, 3 do ups[i] = add(ctx, opt:suggest(ctx)) end
    for i, t in ipairs(ups) do -- the top third: 0.9, 0.8, 0.7
      assert.are.equal(3, t.params.budget)
      assert.is_true(same_config(bottom[10 - i].params, t.params))
    end
    finish(ctx, opt, ups[1], 0.2)
    finish(ctx, opt, ups[2], 0.7)
    finish(ctx, opt, ups[3], 0.5)
    for _, v in ipairs({ 0.95, 0.96, 0.97 }) do -- 12 results: the bottom can promote again
      finish(ctx, opt, add(ctx, { x = v, k = 1, budget = 1 }), v)
    end
    local top = opt:suggest(ctx)
    assert.are.equal(9, top.budget)
    assert.is_true(same_config(ups[2].params, top))
    assert.are.same({ x = 0.97, k = 1, budget = 3 }, opt:suggest(ctx))
  end)

  it("never promotes from the top rung", function()
    local ctx, opt = ctx_for(), Asha.new{ min_budget = 1, max_budget = 3 }
    for _, v in ipairs({ 0.1, 0.2, 0.3, 0.4, 0.5, 0.6 }) do run_one(ctx, opt, v) end
    local seen = {}
    for _ = 1, 30 do
      local t = add(ctx, opt:suggest(ctx))
      seen[t.params.budget] = true
      finish(ctx, opt, t, t.params.budget == 3 and 1 or 0)
    end
    assert.are.same({ [1] = true, [3] = true }, seen)
  end)

  it("counts a FAILED trial as the worst and an EARLY_STOPPED one with its value", function()
    local ctx, opt = ctx_for(), Asha.new{}
    run_one(ctx, opt, 99, "FAILED")
    local stopped = run_one(ctx, opt, 0.4, "EARLY_STOPPED")
    run_one(ctx, opt, 0.3)
    assert.is_true(same_config(stopped.params, opt:suggest(ctx)))

    local ctx2, opt2 = ctx_for(1, "min"), Asha.new{}
    run_one(ctx2, opt2, nil, "FAILED")
    local t = add(ctx2, opt2:suggest(ctx2))
    t:add_point(1, 0.9); t:add_point(2, 0.05)
    finish(ctx2, opt2, t, nil, "EARLY_STOPPED") -- no value: its last report, 0.05
    run_one(ctx2, opt2, 0.1)
    assert.is_true(same_config(t.params, opt2:suggest(ctx2)))
  end)

  it("ignores trials whose budget is not one of its rungs", function()
    local ctx, opt = ctx_for(), Asha.new{}
    for _ = 1, 3 do
      local t = add(ctx, { x = 0.5, k = 1, budget = 2 })
      finish(ctx, opt, t, 1)
    end
    assert.are.equal(1, opt:suggest(ctx).budget)
  end)

  it("uses the sampler for new configurations and never waits or ends", function()
    local calls = {}
    local opt = Asha.new{ sampler = function(ctx, budget)
      calls[#calls + 1] = budget
      return { x = 0.25, k = (#calls - 1) % 5 + 1, budget = 1000 }
    end }
    local ctx = ctx_for()
    local s = opt:suggest(ctx)
    assert.are.same({ x = 0.25, k = 1, budget = 1 }, s)
    assert.are.same({ 1 }, calls)
    assert.is_nil(opt.count)
    for i = 1, 200 do
      s = opt:suggest(ctx)
      assert.are.equal("table", type(s))
      assert.are_not.equal(maggy.WAIT, s)
      finish(ctx, opt, add(ctx, s), (i * 7919) % 101)
    end
    assert.has_error(function()
      Asha.new{ sampler = function() return 3 end }:suggest(ctx)
    end, "optimizers.asha: the sampler must return a params table, got number")
  end)

  it("is deterministic for a seed and differs between seeds", function()
    local function run(seed)
      local ctx, opt = ctx_for(seed), Asha.new{ eta = 2, max_budget = 8 }
      local out = {}
      for i = 1, 60 do
        local t = add(ctx, opt:suggest(ctx))
        out[i] = t.params
        finish(ctx, opt, t, t.params.x * t.params.budget)
      end
      return out
    end
    assert.are.same(run(3), run(3))
    assert.are_not.same(run(3), run(4))
  end)

  it("rejects bad options, naming them", function()
    local cases = {
      { { eta = 1 }, "eta must be a number >= 2, got number 1" },
      { { eta = "3" }, "eta must be a number >= 2, got string '3'" },
      { { min_budget = 0 }, "min_budget must be a number > 0, got number 0" },
      { { min_budget = -1 }, "min_budget must be a number > 0, got number -1" },
      { { max_budget = 0.5 }, "max_budget must be a number >= min_budget (1), got number 0.5" },
      { { max_budget = math.huge }, "max_budget must be a number >= min_budget (1), got number inf" },
      { { sampler = 5 }, "sampler must be a function(ctx, budget), got number" },
      { { max_budjet = 9 }, "unknown option 'max_budjet' (valid: eta, min_budget, max_budget, sampler)" },
    }
    for _, c in ipairs(cases) do
      assert.has_error(function() Asha.new(c[1]) end, "optimizers.asha: " .. c[2])
    end
    assert.has_error(function() Asha.new(3) end, "optimizers.asha: expected an options table, got number")
  end)

  it("promotes exactly what sorting each rung anew would, with ties and trials in flight", function()
    -- The reference: every rung kept as a plain list, sorted at each
    -- suggestion; the best configuration not promoted yet goes up when it
    -- ranks within the top floor(n / eta).
    local ctx, opt = ctx_for(5, "min"), Asha.new{ eta = 2, min_budget = 1, max_budget = 8 }
    local budgets, r = opt.budgets, rng.new(11)
    local rungs, promoted, running = {}, {}, {}
    for i = 1, #budgets do rungs[i], promoted[i] = {}, {} end
    local function before(a, b)
      if a.score ~= b.score then return a.score < b.score end
      return a.seq < b.seq
    end
    local function expected()
      for i = #budgets - 1, 1, -1 do
        table.sort(rungs[i], before)
        for rank, e in ipairs(rungs[i]) do
          if not promoted[i][e.key] then
            if rank <= math.floor(#rungs[i] / opt.eta + 1e-9) then return i, e end
            break
          end
        end
      end
    end
    for _ = 1, 1500 do
      local i, e = expected()
      local s = opt:suggest(ctx)
      if i then
        assert.are.equal(budgets[i + 1], s.budget)
        assert.is_true(same_config(e.params, s))
        promoted[i][e.key] = true
      else
        assert.are.equal(budgets[1], s.budget)
      end
      running[#running + 1] = add(ctx, s)
      if #running > 3 or r:random() < 0.5 then
        local t = table.remove(running, r:randint(1, #running))
        local fail = r:random() < 0.05
        finish(ctx, opt, t, r:randint(1, 6) / 6, fail and "FAILED" or nil) -- ties on purpose
        local rung = 1
        while budgets[rung] ~= t.params.budget do rung = rung + 1 end
        table.insert(rungs[rung], { score = budgets_mod.trial_score(ctx, t), seq = t.seq,
                                    key = ctx.space:key(t.params), params = t.params })
      end
    end
    assert.is_true(#rungs[#budgets] > 0) -- the run reached the top rung
  end)
end)
