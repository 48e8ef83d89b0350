-- What keeps early stopping's cost per check flat as trials accumulate:
-- maggy.heap and maggy.quantile, the running and finished lists the runtime keeps, and
-- the percentile rule fed those lists one new trial at a time, which must
-- decide exactly as the same rule given fresh lists.
local maggy = require "maggy"
local Ctx = require "maggy.ctx"
local Quantile = require "maggy.quantile"
local heap = require "maggy.heap"
local rng = require "maggy.rng"
local trial = require("support.strategies").trial

local function sorted_percentile(values, p, direction)
  local v = {}
  for i, x in ipairs(values) do v[i] = x end
  table.sort(v, direction == "min" and function(a, b) return a < b end or function(a, b) return a > b end)
  local r = p / 100 * (#v - 1) + 1
  local lo = math.floor(r)
  local hi = math.min(lo + 1, #v)
  return v[lo] + (v[hi] - v[lo]) * (r - lo)
end

describe("maggy.heap", function()
  it("pops in sorted order, pushes and pops interleaved", function()
    local r = rng.new(3)
    local function lt(a, b) return a < b end
    local h, kept = {}, {}
    for i = 1, 500 do
      local x = r:randint(1, 50) -- ties on purpose
      heap.push(h, lt, x)
      kept[#kept + 1] = x
      if i % 3 == 0 then
        table.sort(kept)
        assert.are.equal(table.remove(kept, 1), heap.pop(h, lt))
      end
      assert.are.equal(#kept, #h)
    end
    table.sort(kept)
    for _, x in ipairs(kept) do assert.are.equal(x, heap.pop(h, lt)) end
    assert.is_nil(heap.pop(h, lt))
    assert.are.equal(0, #h)
  end)
end)

describe("maggy.quantile", function()
  it("equals sorting all values, after every insert, both directions", function()
    local r = rng.new(7)
    for _, direction in ipairs({ "max", "min" }) do
      for _, p in ipairs({ 50, 10, 25, 90, 100, 1 }) do
        local q, values = Quantile.new(p, direction), {}
        assert.is_nil(q:value())
        for i = 1, 300 do
          local x = r:randint(1, 40) / 8 -- ties on purpose
          values[i] = x
          q:insert(x)
          assert.are.equal(i, q:count())
          assert.is_true(math.abs(q:value() - sorted_percentile(values, p, direction)) < 1e-12)
        end
      end
    end
  end)
end)

describe("maggy.ctx lists", function()
  it("keeps the running trials in creation order and the finished in finishing order", function()
    local ctx = Ctx.new({ direction = "max" })
    local t = {}
    for i = 1, 5 do
      t[i] = trial("PENDING", {})
      Ctx.add_trial(ctx, t[i])
    end
    for _, i in ipairs({ 4, 2, 5, 1 }) do Ctx.set_state(ctx, t[i], "RUNNING") end
    assert.are.same({ t[1], t[2], t[4], t[5] }, Ctx.running(ctx))
    Ctx.set_state(ctx, t[4], "FINISHED")
    Ctx.set_state(ctx, t[1], "FINISHED")
    Ctx.set_state(ctx, t[2], "PENDING") -- retried
    assert.are.same({ t[5] }, Ctx.running(ctx))
    assert.are.same({ t[4], t[1] }, Ctx.finished(ctx))
    Ctx.set_state(ctx, t[5], "EARLY_STOPPED")
    assert.are.same({}, Ctx.running(ctx))
    assert.are.same({ t[4], t[1] }, Ctx.finished(ctx))
  end)

  it("survives a rule that reorders the running list", function()
    local ctx = Ctx.new({ direction = "max" })
    local t = {}
    for i = 1, 4 do
      t[i] = trial("PENDING", {})
      Ctx.add_trial(ctx, t[i])
      Ctx.set_state(ctx, t[i], "RUNNING")
    end
    table.sort(Ctx.running(ctx), function(a, b) return a.seq > b.seq end)
    Ctx.set_state(ctx, t[2], "FINISHED")
    local left = {}
    for _, x in ipairs(Ctx.running(ctx)) do left[x] = true end
    assert.are.same({ [t[1]] = true, [t[3]] = true, [t[4]] = true }, left)
  end)
end)

describe("earlystop.percentile, fed one trial at a time", function()
  it("stops exactly what it stops when given the whole list anew", function()
    local r = rng.new(11)
    for _, direction in ipairs({ "max", "min" }) do
      local ctx = Ctx.new({ direction = direction, es_min = 3 })
      local incremental = maggy.earlystop.median { grace = 1 }
      local finished = {} -- one list that only grows, as the runtime's
      for round = 1, 60 do
        -- a finished trial with a curve of random length and sparse steps
        local values = {}
        for i = 1, r:randint(1, 8) do values[i] = r:uniform(0, 1) end
        local f = trial("FINISHED", values)
        if r:random() < 0.3 then f.steps[#f.steps] = f.steps[#f.steps] + 3 end
        finished[#finished + 1] = f
        local running = {}
        for i = 1, 6 do
          local v = {}
          for k = 1, r:randint(1, 9) do v[k] = r:uniform(0, 1) end
          running[i] = trial("RUNNING", v)
        end
        local fresh = {}
        for i, x in ipairs(finished) do fresh[i] = x end
        assert.are.same(maggy.earlystop.median { grace = 1 }:check(ctx, running, fresh),
          incremental:check(ctx, running, finished), "round " .. round)
      end
    end
  end)
end)
