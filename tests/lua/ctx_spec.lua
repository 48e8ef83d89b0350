local Ctx = require "maggy.ctx"
local Trial = require "maggy.trial"
local rng = require "maggy.rng"

local function trial(id, state, value)
  local t = Trial.new(id, 0, { x = 1 })
  t.state, t.value = state, value
  return t
end

local function ctx_with(direction, trials)
  local ctx = Ctx.new({ direction = direction, es_min = 1 })
  for i, t in ipairs(trials) do
    t.seq = i
    Ctx.add_trial(ctx, t)
  end
  return ctx
end

describe("maggy.trial", function()
  it("keeps the history sorted by step; a repeated step overwrites", function()
    local t = Trial.new("a", 1, {})
    assert.is_nil(t:last())
    t:add_point(2, 0.2)
    t:add_point(0, 0.0)
    t:add_point(1, 0.1)
    t:add_point(5, 0.5)
    t:add_point(1, 0.15)
    assert.are.same({ 0, 1, 2, 5 }, t.steps)
    assert.are.same({ 0.0, 0.15, 0.2, 0.5 }, t.values)
    assert.are.same({ 5, 0.5 }, { t:last() })
  end)

  it("appends to the history's tables; any other change gives new ones", function()
    local t = Trial.new("a", 1, {})
    t:add_point(1, 0.1)
    local steps, values = t.steps, t.values
    t:add_point(3, 0.3)
    assert.are.equal(steps, t.steps)
    assert.are.equal(values, t.values)
    t:add_point(3, 0.35)
    assert.are_not.equal(values, t.values)
    assert.are.same({ 0.1, 0.35 }, t.values)
    assert.are.same({ 0.1, 0.3 }, values) -- the old tables are left as they were
    values = t.values
    t:add_point(2, 0.2)
    assert.are_not.equal(values, t.values)
    assert.are.same({ 1, 2, 3 }, t.steps)
    assert.are.same({ 0.1, 0.2, 0.35 }, t.values)
  end)

  it("shares one read-only empty history among trials without points", function()
    local a, b = Trial.new("a", 1, {}), Trial.new("b", 2, {})
    assert.are.equal(a.steps, b.values)
    assert.are.same({}, a.steps)
    assert.has_error(function() a.steps[1] = 1 end, "a trial's history is read-only")
    a:add_point(1, 0.5)
    assert.are.same({ 1 }, a.steps)
    assert.are.same({}, b.steps)
    a:clear_history()
    assert.are.equal(b.steps, a.steps)
    assert.is_false(Trial.no_points_changed())
    table.insert(b.values, 0.1) -- gets past the guard, but not unseen
    assert.is_true(Trial.no_points_changed())
    table.remove(b.values)
  end)

  it("finds the best value from a given point on, after one found before", function()
    local t = Trial.new("a", 1, {})
    for step, v in ipairs({ 0.3, 0.9, 0.1, 0.5 }) do t:add_point(step, v) end
    assert.are.same({ 0.5, 4 }, { t:best("max", 3) })
    assert.are.same({ 0.9, 2 }, { t:best("max", 3, 0.9, 2) })
    assert.are.same({ 0.1, 3 }, { t:best("min", 3, 0.3, 1) })
  end)

  it("finds the best value by direction, ignoring NaN", function()
    local t = Trial.new("a", 1, {})
    for step, v in ipairs({ 0.3, 0 / 0, 0.9, 0.1 }) do t:add_point(step, v) end
    assert.are.same({ 0.9, 3 }, { t:best("max") })
    assert.are.same({ 0.9, 3 }, { t:best() })
    assert.are.same({ 0.1, 4 }, { t:best("min") })
  end)
end)

describe("maggy.ctx", function()
  local trials = {
    trial("p", "PENDING"), trial("r", "RUNNING"), trial("f1", "FINISHED", 0.5),
    trial("s", "EARLY_STOPPED", 0.9), trial("x", "FAILED"), trial("f2", "FINISHED", 0.7),
  }
  local ctx = ctx_with("max", trials)

  local function ids(list)
    local out = {}
    for i, t in ipairs(list) do out[i] = t.id end
    return out
  end

  it("says a method called with a dot needs a colon", function()
    for _, call in ipairs({ { "trials", "done" }, { "trial", "p" }, { "best" }, { "log", "x" } }) do
      local ok, err = pcall(ctx[call[1]], call[2])
      assert.is_false(ok)
      assert.are.equal(string.format("ctx.%s(...) needs a colon: ctx:%s(...)", call[1], call[1]), err)
    end
  end)

  it("filters trials by state, 'done' or nothing, in creation order", function()
    assert.are.same({ "p", "r", "f1", "s", "x", "f2" }, ids(ctx:trials()))
    assert.are.same({ "f1", "f2" }, ids(ctx:trials("FINISHED")))
    assert.are.same({ "f1", "s", "x", "f2" }, ids(ctx:trials("done")))
    assert.are.same({ "r" }, ids(ctx:trials("RUNNING")))
    assert.has_error(function() ctx:trials("finished") end)
  end)

  it("hands out a fresh list each time", function()
    local list = ctx:trials()
    list[1] = nil
    assert.are.equal(6, #ctx:trials())
  end)

  it("finds trials by id", function()
    assert.are.equal("s", ctx:trial("s").id)
    assert.is_nil(ctx:trial("nope"))
  end)

  it("compares by direction; nil and NaN are never better", function()
    assert.is_true(ctx:better(2, 1))
    assert.is_false(ctx:better(1, 1))
    assert.is_false(ctx:better(nil, 1))
    assert.is_false(ctx:better(0 / 0, 1))
    assert.is_true(ctx:better(1, nil))
    assert.is_true(ctx:better(1, 0 / 0))
    local low = ctx_with("min", {})
    assert.is_true(low:better(1, 2))
    assert.is_false(low:better(2, 1))
  end)

  it("picks the best finished or early-stopped trial", function()
    assert.are.equal("s", ctx:best().id)
    assert.are.equal("f1", ctx_with("min", { trial("f1", "FINISHED", 0.5), trial("s", "EARLY_STOPPED", 0.9) }):best().id)
    assert.is_nil(ctx_with("max", { trial("x", "FAILED", 3), trial("r", "RUNNING", 4) }):best())
  end)

  it("collects log lines until they are taken", function()
    local c = Ctx.new({})
    c:log("plain %")
    c:log("x=%d y=%s", 3, "z")
    c:log("two\nlines")
    assert.are.same({ "plain %", "x=3 y=z", "two", "lines" }, Ctx.take_logs(c))
    assert.are.same({}, Ctx.take_logs(c))
    assert.has_error(function() c:log("%d", "nope") end)
  end)

  it("caps the lines kept per reply and says how many were dropped", function()
    local c = Ctx.new({})
    for i = 1, 1005 do c:log("line %d", i) end
    local lines = Ctx.take_logs(c)
    assert.are.equal(1001, #lines)
    assert.are.equal("(5 more log lines dropped)", lines[1001])
  end)

  it("gives views their own rng and shares the rest", function()
    local base = Ctx.new({ direction = "min", rng = rng.new(1) })
    local view = Ctx.view(base, rng.new(2))
    Ctx.add_trial(base, trial("a", "RUNNING"))
    assert.are.equal("min", view.direction)
    assert.are.equal(1, #view:trials())
    assert.are_not.equal(base.rng, view.rng)
    view:log("from the view")
    assert.are.same({ "from the view" }, Ctx.take_logs(base))
  end)
end)
