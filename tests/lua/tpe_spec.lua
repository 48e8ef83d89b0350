local maggy = require "maggy"
local Ctx = require "maggy.ctx"
local Trial = require "maggy.trial"
local rng = require "maggy.rng"
local Tpe = require "maggy.optimizers.tpe"
local support = require "support.strategies"

local function mixed_space()
  return maggy.searchspace{
    lr = maggy.double(1e-5, 1, { log = true }), drop = maggy.double(0, 0.5),
    units = maggy.integer(2, 512, { log = true }), layers = maggy.integer(1, 4),
    batch = maggy.discrete{ 16, 32, 64 }, act = maggy.categorical{ "relu", "tanh", "gelu" },
    bn = maggy.categorical{ true, false }, k = maggy.categorical{ 3, "same" },
  }
end

-- A made-up objective over mixed_space, lower is better.
local function mixed_value(p)
  local lr = math.log10(p.lr) + 3
  return lr * lr + p.drop + p.layers / 4 + (p.units - 128) ^ 2 / 1e5
    + (p.act == "tanh" and 0 or 1) + (p.bn and 0 or 0.5) + (p.batch == 32 and 0 or 0.3)
end

local function branin(p)
  local b, c, t = 5.1 / (4 * math.pi ^ 2), 5 / math.pi, 1 / (8 * math.pi)
  return (p.x2 - b * p.x1 * p.x1 + c * p.x1 - 6) ^ 2 + 10 * (1 - t) * math.cos(p.x1) + 10
end

local function new_ctx(space, seed, direction)
  return Ctx.new({ space = space, rng = rng.new(seed), direction = direction or "min" })
end

local function add(ctx, params, state, value)
  local seq = #ctx:trials() + 1
  local t = Trial.new(string.format("%016x", seq), seq, params)
  t.state, t.value = state, value
  Ctx.add_trial(ctx, t)
  return t
end

-- n sequential suggestions, each evaluated with f before the next; returns
-- the suggestions and the ctx.
local function run(opt, space, f, seed, n)
  local ctx, out = new_ctx(space, seed), {}
  for i = 1, n do
    out[i] = opt:suggest(ctx)
    add(ctx, out[i], "FINISHED", f(out[i]))
  end
  return out, ctx
end

local function median(xs)
  table.sort(xs)
  local n = #xs
  if n % 2 == 1 then return xs[(n + 1) / 2] end
  return (xs[n / 2] + xs[n / 2 + 1]) / 2
end

describe("optimizers.tpe", function()
  it("respects bounds and types of every parameter type", function()
    for _, multivariate in ipairs({ true, false }) do
      local space = mixed_space()
      local list = run(Tpe.new{ n_startup = 5, multivariate = multivariate }, space, mixed_value, 3, 60)
      local seen = {}
      for _, p in ipairs(list) do
        assert.is_true(space:validate(p))
        assert.are.equal(math.floor(p.units), p.units)
        assert.is_true(p.units >= 2 and p.units <= 512)
        seen[tostring(p.bn)], seen[tostring(p.k)] = true, true
      end
      assert.is_true(seen["true"] and seen["false"] and seen["3"] and seen["same"])
    end
  end)

  it("is deterministic for a seed and differs between seeds", function()
    local space = mixed_space()
    local a = run(Tpe.new{ n_startup = 5 }, space, mixed_value, 7, 25)
    local b = run(Tpe.new{ n_startup = 5 }, space, mixed_value, 7, 25)
    local c = run(Tpe.new{ n_startup = 5 }, space, mixed_value, 8, 25)
    assert.are.same(a, b)
    assert.are_not.same(a, c)
  end)

  it("samples at random until n_startup trials have results, pending ones not counting", function()
    local space, opt = mixed_space(), Tpe.new{ n_startup = 4 }
    local ctx, draws = new_ctx(space, 11), rng.new(11)
    for i = 1, 3 do add(ctx, space:sample(rng.new(100 + i)), "FINISHED", i) end
    for i = 1, 6 do
      local p = opt:suggest(ctx)
      assert.are.same(space:sample(draws), p)
      add(ctx, p, "RUNNING")
    end
    add(ctx, space:sample(rng.new(99)), "FINISHED", 0)
    assert.are_not.same(space:sample(draws), opt:suggest(ctx))
  end)

  it("uses the model once n_startup results exist, early-stopped ones included", function()
    local space = mixed_space()
    local ctx, draws = new_ctx(space, 5), rng.new(5)
    for i = 1, 3 do add(ctx, space:sample(rng.new(200 + i)), "EARLY_STOPPED", i) end
    add(ctx, space:sample(rng.new(300)), "FAILED")
    assert.are_not.same(space:sample(draws), Tpe.new{ n_startup = 3 }:suggest(ctx))
    draws, ctx.rng = rng.new(5), rng.new(5)
    assert.are.same(space:sample(draws), Tpe.new{ n_startup = 4 }:suggest(ctx))
  end)

  it("hands out 8 different points while the previous ones are pending", function()
    local spaces = {
      mixed_space(),
      maggy.searchspace{ x = maggy.integer(1, 12), c = maggy.categorical{ "a", "b", "c" }, d = maggy.discrete{ 1, 2, 4 } },
    }
    local function f(p) return p.x and (p.x - 4) ^ 2 + (p.c == "b" and 0 or 3) + p.d or mixed_value(p) end
    for _, space in ipairs(spaces) do
      for _, lie in ipairs({ "worst", "mean", "best" }) do
        local opt = Tpe.new{ n_startup = 10, lie = lie }
        local _, ctx = run(opt, space, f, 21, 15)
        local keys = {}
        for _, t in ipairs(ctx:trials()) do keys[space:key(t.params)] = true end
        for _ = 1, 8 do
          local p = opt:suggest(ctx)
          local key = space:key(p)
          assert.is_nil(keys[key])
          keys[key] = true
          add(ctx, p, "PENDING")
        end
      end
    end
  end)

  it("beats random search on Branin", function()
    local space = maggy.searchspace{ x1 = maggy.double(-5, 10), x2 = maggy.double(0, 15) }
    local function best(opt, seed)
      local _, ctx = run(opt, space, branin, seed, 60)
      return ctx:best().value - 0.397887
    end
    local tpe, random = {}, {}
    for seed = 1, 10 do
      tpe[seed] = best(Tpe.new{}, seed)
      random[seed] = best(maggy.optimizers.random{}, seed)
    end
    -- Medians of the regret at 60 evaluations: about 0.02 against 1.
    assert.is_true(median(tpe) < median(random) / 5)
  end)

  it("follows the direction of the experiment", function()
    local space = maggy.searchspace{ x = maggy.double(0, 1) }
    local ctx, opt = new_ctx(space, 4, "max"), Tpe.new{}
    for _ = 1, 40 do
      local p = opt:suggest(ctx)
      add(ctx, p, "FINISHED", -(p.x - 0.8) ^ 2)
    end
    assert.is_true(math.abs(ctx:best().params.x - 0.8) < 0.02)
  end)

  it("leaves a plateau it keeps hitting: repeated results count as bad", function()
    local space = maggy.searchspace{ a = maggy.double(0, 1), b = maggy.double(0, 1), c = maggy.double(0, 1) }
    local f = support.cells_objective()
    local function distinct(opts, seed)
      return support.distinct_values((run(Tpe.new(opts), space, f, seed, 60)), f)
    end
    local with, without = {}, {}
    for seed = 1, 7 do
      with[seed] = distinct({}, seed)
      without[seed] = distinct({ demote_repeats = false }, seed)
    end
    assert.is_true(median(with) > median(without) + 3, median(with) .. " vs " .. median(without))
  end)

  -- The suggestions of 40 trials on f, never widened and widened up to 3 times.
  local function narrow_and_wide(space, f, seed)
    return run(Tpe.new{ plateau_widening = 1 }, space, f, seed, 40),
           run(Tpe.new{ plateau_widening = 3 }, space, f, seed, 40)
  end

  it("draws its candidates no wider while no result repeats another", function()
    local space = maggy.searchspace{ x1 = maggy.double(-5, 10), x2 = maggy.double(0, 15) }
    for seed = 1, 3 do assert.are.same(narrow_and_wide(space, branin, seed)) end
  end)

  it("draws its candidates wider only when results repeat (a plateau)", function()
    local space = maggy.searchspace{ a = maggy.double(0, 1), b = maggy.double(0, 1), c = maggy.double(0, 1) }
    local f = support.cells_objective()
    for seed = 1, 3 do assert.are_not.same(narrow_and_wide(space, f, seed)) end
  end)

  describe("options", function()
    it("fills in the defaults", function()
      assert.are.same({ n_startup = 10, n_candidates = 24, multivariate = true, prior_weight = 1,
        bandwidth_floor = 1e-3, lie = "worst", demote_repeats = true, pending_weight = 0.5,
        plateau_widening = 3 }, Tpe.defaults())
      local o = Tpe.defaults{ gamma = 0.2, multivariate = false, lie = "mean" }
      assert.are.same({ 0.2, false, "mean", 24 }, { o.gamma, o.multivariate, o.lie, o.n_candidates })
      assert.are.equal("tpe", Tpe.new().name)
    end)

    it("names the bad option", function()
      local bad = {
        { gamma = 0 }, { gamma = 1 }, { gamma = 1.5 }, { gamma = "0.1" }, { gamma = 0 / 0 },
        { n_startup = -1 }, { n_startup = 2.5 }, { n_candidates = 0 }, { multivariate = "yes" },
        { prior_weight = -1 }, { prior_weight = math.huge }, { bandwidth_floor = 0 },
        { bandwidth_floor = 2 }, { lie = "median" }, { demote_repeats = "yes" },
        { pending_weight = 0 }, { pending_weight = 1.5 }, { pending_weight = "half" },
        { plateau_widening = 0.5 }, { plateau_widening = math.huge },
      }
      for _, opts in ipairs(bad) do
        local name = next(opts)
        assert.has_error(function() Tpe.new(opts) end)
        local ok, err = pcall(Tpe.new, opts)
        assert.is_false(ok)
        assert.truthy(err:find("option '" .. name .. "'", 1, true), err)
        assert.has_error(function() Tpe.defaults(opts) end)
      end
      local _, err = pcall(Tpe.new, { n_startups = 3 })
      assert.truthy(err:find("unknown option 'n_startups'", 1, true), err)
      _, err = pcall(Tpe.new, 5)
      assert.truthy(err:find("options table", 1, true), err)
    end)
  end)

  describe("propose", function()
    local space = maggy.searchspace{ x = maggy.double(0, 1), n = maggy.integer(1, 9) }

    local function observations(target)
      local obs = {}
      for i = 1, 40 do
        local p = { x = (i - 0.5) / 40, n = 1 + (i % 9), budget = 3 }
        obs[i] = { params = p, score = (p.x - target) ^ 2 + ((p.n - 5) / 9) ^ 2 }
      end
      return obs
    end

    it("returns nil with fewer than two observations", function()
      local opts = Tpe.defaults()
      assert.is_nil(Tpe.propose(space, rng.new(1), {}, opts))
      assert.is_nil(Tpe.propose(space, rng.new(1), { observations(0.5)[1] }, opts))
    end)

    it("returns valid params without extra keys, near the low scores", function()
      for _, target in ipairs({ 0.15, 0.85 }) do
        local obs, near = observations(target), 0
        for seed = 1, 20 do
          local p = Tpe.propose(space, rng.new(seed), obs, Tpe.defaults())
          assert.is_true(space:validate(p))
          if math.abs(p.x - target) < 0.15 then near = near + 1 end
        end
        assert.is_true(near >= 16)
      end
    end)

    it("is a pure function of its arguments", function()
      local obs, opts = observations(0.3), Tpe.defaults{ multivariate = false }
      local copy = {}
      for i, o in ipairs(obs) do copy[i] = { params = o.params, score = o.score } end
      local a = Tpe.propose(space, rng.new(9), obs, opts)
      assert.are.same(a, Tpe.propose(space, rng.new(9), obs, opts))
      assert.are.same(copy, obs)
      assert.are.same(Tpe.defaults{ multivariate = false }, opts)
    end)

    it("keeps suggestions the nearer to pending trials the less they weigh", function()
      -- Pending trials (at the lie, the worst score) where the good results are.
      local obs = observations(0.3)
      for i = 1, 6 do
        obs[#obs + 1] = { params = { x = 0.27 + i / 100, n = 5 }, score = 1, pending = true }
      end
      local function mean_distance(weight)
        local sum = 0
        for seed = 1, 40 do
          local p = Tpe.propose(space, rng.new(seed), obs, Tpe.defaults{ pending_weight = weight })
          sum = sum + math.abs(p.x - 0.3)
        end
        return sum / 40
      end
      local half, full = mean_distance(0.5), mean_distance(1)
      assert.is_true(half < full, half .. " vs " .. full)
    end)

    it("returns nil when every candidate repeats an observation", function()
      local tiny = maggy.searchspace{ c = maggy.categorical{ "a", "b" } }
      local obs = { { params = { c = "a" }, score = 1 }, { params = { c = "b" }, score = 2 } }
      assert.is_nil(Tpe.propose(tiny, rng.new(1), obs, Tpe.defaults()))
    end)
  end)
end)
