local maggy = require "maggy"
local Ctx = require "maggy.ctx"
local Trial = require "maggy.trial"
local rng = require "maggy.rng"
local la = require "maggy.optimizers.gp_linalg"
local model = require "maggy.optimizers.gp_model"
local gp = require "maggy.optimizers.gp"
local support = require "support.strategies"

---------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------

local function new_ctx(space, seed, direction)
  return Ctx.new({ space = maggy.searchspace(space), rng = rng.new(seed or 1), direction = direction or "min" })
end

-- Adds a trial in `state`; FINISHED and EARLY_STOPPED ones get value f(params).
local function add(ctx, params, state, f)
  local seq = #ctx:trials() + 1
  local t = Trial.new(string.format("%016x", seq), seq, params)
  t.state = state
  if (state == "FINISHED" or state == "EARLY_STOPPED") and f then t.value = f(params) end
  Ctx.add_trial(ctx, t)
  return t
end

-- n suggestions, each run to the end at once; returns them and the ctx.
local function run(opt, ctx, f, n)
  local out = {}
  for i = 1, n do
    out[i] = opt:suggest(ctx)
    add(ctx, out[i], "FINISHED", f)
  end
  return out, ctx
end

local function best_value(ctx)
  return ctx:best().value
end

local function median(list)
  local s = { unpack(list) }
  table.sort(s)
  return s[math.ceil(#s / 2)]
end

local function distance(a, b)
  local s = 0
  for i = 1, #a do s = s + (a[i] - b[i]) ^ 2 end
  return math.sqrt(s)
end

local BRANIN_SPACE = { x1 = maggy.double(-5, 10), x2 = maggy.double(0, 15) }

-- Branin-Hoo, minimum 0.397887 at three points.
local function branin(p)
  local x1, x2 = p.x1, p.x2
  local b, c = 5.1 / (4 * math.pi ^ 2), 5 / math.pi
  return (x2 - b * x1 ^ 2 + c * x1 - 6) ^ 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10
end

-- A random SPD matrix (B B^T + I) as a Lua table of rows, 0-based.
local function spd(n, seed)
  local r, B, A = rng.new(seed), {}, {}
  for i = 0, n - 1 do
    B[i] = {}
    for k = 0, n - 1 do B[i][k] = r:normal(0, 1) end
  end
  for i = 0, n - 1 do
    A[i] = {}
    for j = 0, n - 1 do
      local s = i == j and 1 or 0
      for k = 0, n - 1 do s = s + B[i][k] * B[j][k] end
      A[i][j] = s
    end
  end
  return A
end

local function to_ffi(A, n, ld)
  local a = la.vector(ld * ld)
  for i = 0, n - 1 do
    for j = 0, n - 1 do a[i * ld + j] = A[i][j] end
  end
  return a
end

---------------------------------------------------------------------------
-- Linear algebra
---------------------------------------------------------------------------

describe("optimizers.gp_linalg", function()
  local n, ld = 11, 13 -- a stride above n checks the indexing

  it("factors, solves and inverts a symmetric positive definite matrix", function()
    local A = spd(n, 5)
    local L = to_ffi(A, n, ld)
    assert.is_true(la.cholesky(L, ld, n))
    local x = la.vector(n)
    for i = 0, n - 1 do x[i] = i - 3 end
    la.solve_lower(L, ld, n, x)
    la.solve_lower_t(L, ld, n, x)
    for i = 0, n - 1 do
      local s = 0
      for j = 0, n - 1 do s = s + A[i][j] * x[j] end
      assert.is_near(i - 3, s, 1e-10)
    end
    local inv = la.vector(ld * ld)
    la.inverse_from_cholesky(L, ld, n, inv)
    for i = 0, n - 1 do
      for j = 0, n - 1 do
        local s = 0
        for k = 0, n - 1 do s = s + A[i][k] * inv[math.max(k, j) * ld + math.min(k, j)] end
        assert.is_near(i == j and 1 or 0, s, 1e-10)
      end
    end
  end)

  it("solves many right-hand sides at once like one at a time", function()
    local L = to_ffi(spd(n, 6), n, ld)
    assert.is_true(la.cholesky(L, ld, n))
    local m = 7 -- one batch of four and three single ones
    local V = la.vector(m * ld)
    for c = 0, m - 1 do
      for i = 0, n - 1 do V[c * ld + i] = math.sin(c + i) end
    end
    la.solve_lower_rows(L, ld, n, V, ld, m)
    for c = 0, m - 1 do
      local v = la.vector(n)
      for i = 0, n - 1 do v[i] = math.sin(c + i) end
      la.solve_lower(L, ld, n, v)
      for i = 0, n - 1 do assert.is_near(v[i], V[c * ld + i], 1e-12) end
    end
  end)

  it("reports a matrix that is not positive definite", function()
    local a = to_ffi({ [0] = { [0] = 1, 2 }, { [0] = 2, 1 } }, 2, 2)
    local ok, row = la.cholesky(a, 2, 2)
    assert.is_false(ok)
    assert.are.equal(1, row)
  end)

  it("computes dot products of every length", function()
    local a, b = la.vector(20), la.vector(20)
    for i = 0, 19 do a[i], b[i] = i, 20 - i end
    for len = 0, 12 do
      local s = 0
      for k = 0, len - 1 do s = s + a[3 + k] * b[1 + k] end
      assert.are.equal(s, la.dot(a, 3, b, 1, len))
    end
  end)
end)

---------------------------------------------------------------------------
-- The GP model
---------------------------------------------------------------------------

describe("optimizers.gp_model", function()
  -- n points in [0, 1]^D and outputs of f(x) (x a 0-based array).
  local function data(n, D, f, seed)
    local r = rng.new(seed)
    local X, y, x = la.vector(n * D), la.vector(n), la.vector(D)
    for i = 0, n - 1 do
      for d = 0, D - 1 do
        X[i * D + d] = r:random()
        x[d] = X[i * D + d]
      end
      y[i] = f(x)
    end
    return X, y
  end

  local function wave(x) return math.sin(6 * x[0]) + 0.5 * x[1] end

  it("has the analytic gradient of its objective", function()
    local X, y = data(25, 3, wave, 1)
    local theta = { -1, -0.5, 0.3, 0.2, -3 }
    local _, g = model.objective(X, y, 25, 3, theta)
    for k = 1, #theta do
      local up, down = { unpack(theta) }, { unpack(theta) }
      up[k], down[k] = theta[k] + 1e-5, theta[k] - 1e-5
      local fd = (model.objective(X, y, 25, 3, up) - model.objective(X, y, 25, 3, down)) / 2e-5
      assert.is_near(fd, g[k], 1e-5 * math.max(1, math.abs(fd)))
    end
  end)

  it("fits within the bounds and gives an irrelevant input a longer length scale", function()
    local X, y = data(40, 2, function(x) return math.sin(6 * x[0]) end, 2)
    local theta = model.fit(X, y, 40, 2, nil)
    local lo, hi = model.bounds(2)
    for k = 1, 4 do
      assert.is_true(theta[k] >= lo[k] and theta[k] <= hi[k])
    end
    assert.is_true(math.exp(theta[2]) > 3 * math.exp(theta[1]))
  end)

  it("interpolates its data and is uncertain away from it", function()
    local X, y = data(30, 2, wave, 3)
    local theta = model.fit(X, y, 30, 2, nil)
    local post = model.posterior(X, y, 30, 2, 31, theta)
    local mu, var = la.vector(30), la.vector(30)
    post:predict(X, 30, mu, var)
    for i = 0, 29 do
      assert.is_near(y[i], mu[i], 0.05)
      assert.is_true(var[i] < 0.01)
    end
    local far = la.vector(2)
    far[0], far[1] = 20, 0.5 -- far from every point along the wavy input
    post:predict(far, 1, mu, var)
    assert.is_true(var[0] > 0.9 * math.exp(theta[3]))
  end)

  it("adds a believed point: the mean there stays, the variance drops below the noise", function()
    local X, y = data(6, 2, wave, 4)
    local theta = model.fit(X, y, 6, 2, nil)
    local post = model.posterior(X, y, 6, 2, 7, theta)
    local x = la.vector(2)
    x[0], x[1] = 0.5, 0.5
    local mu, var = la.vector(1), la.vector(1)
    post:predict(x, 1, mu, var)
    local before_mu, before_var = mu[0], var[0]
    assert.is_true(post:add(x, post:mean(x)))
    post:predict(x, 1, mu, var)
    local noise = math.exp(theta[4])
    assert.is_near(before_mu, mu[0], 1e-6)
    assert.is_true(before_var > 5 * noise)
    assert.is_true(var[0] < noise) -- v noise / (v + noise) for a noisy observation
    assert.is_false(post:add(x, 0)) -- no room left
  end)
end)

---------------------------------------------------------------------------
-- The optimizer
---------------------------------------------------------------------------

describe("optimizers.gp", function()
  describe("options", function()
    local function message(opts)
      local ok, err = pcall(gp.new, opts)
      assert.is_false(ok)
      return err
    end

    it("has defaults and is named gp", function()
      local opt = gp.new()
      assert.are.equal("gp", opt.name)
      assert.are.equal("ei", opt.acquisition)
      assert.are.equal("kriging", opt.pending)
      assert.are.equal(512, opt.n_candidates)
      assert.are.equal(200, opt.max_fit_points)
      assert.are.equal(2, opt.kappa)
      assert.is_nil(opt.count)
    end)

    it("rejects bad values, naming the option", function()
      assert.matches("option 'acquisition' must be \"ei\" or \"ucb\", got string 'pi'", message{ acquisition = "pi" })
      assert.matches("option 'kappa' must be a number >= 0, got number %-1", message{ kappa = -1 })
      assert.matches("option 'xi' must be a number >= 0, got string", message{ xi = "0.1" })
      assert.matches("option 'n_startup' must be an integer >= 1, got number 2.5", message{ n_startup = 2.5 })
      assert.matches("option 'n_candidates' must be an integer >= 1, got number 0", message{ n_candidates = 0 })
      assert.matches("option 'pending' must be \"kriging\", \"liar\" or \"ignore\"", message{ pending = "mean" })
      assert.matches("option 'max_fit_points' must be an integer >= 2, got number 1", message{ max_fit_points = 1 })
      assert.matches("option 'kappa' must be a number >= 0, got number inf", message{ kappa = math.huge })
    end)

    it("rejects unknown options and non-tables", function()
      assert.matches("unknown option 'kapa' %(valid: acquisition, demote_repeats, kappa, max_fit_points, n_candidates, n_startup, pending, xi%)",
                     message{ kapa = 2 })
      assert.matches("expected an options table, got string", message("ei"))
    end)
  end)

  describe("startup", function()
    it("suggests exactly what random search does for the first n_startup trials", function()
      local gp_list = run(gp.new{ n_startup = 6 }, new_ctx(BRANIN_SPACE, 9), branin, 6)
      local random_list = run(maggy.optimizers.random{}, new_ctx(BRANIN_SPACE, 9), branin, 6)
      assert.are.same(random_list, gp_list)
    end)

    it("defaults to max(10, 2 * parameters) random trials, counting pending ones", function()
      local opt = gp.new{}
      local ctx = new_ctx(BRANIN_SPACE, 1)
      run(opt, ctx, branin, 1)
      assert.are.equal(10, opt.n_startup)
      local wide = {}
      for i = 1, 7 do wide["x" .. i] = maggy.double(0, 1) end
      local opt7 = gp.new{}
      opt7:suggest(new_ctx(wide, 1))
      assert.are.equal(14, opt7.n_startup)
      -- 9 pending trials and one more suggestion end the startup phase: still random
      -- because fewer than two trials reported, never maggy.WAIT
      local ctx2, opt2 = new_ctx(BRANIN_SPACE, 2), gp.new{ n_startup = 3 }
      for _ = 1, 9 do add(ctx2, opt2:suggest(ctx2), "RUNNING") end
      assert.is_true(ctx2.space:validate(opt2:suggest(ctx2)))
      assert.is_nil(opt2.theta) -- no model was fitted
    end)
  end)

  describe("suggestions", function()
    local MIXED = {
      lr = maggy.double(1e-5, 1, { log = true }),
      drop = maggy.double(0, 0.9),
      units = maggy.integer(16, 512, { log = true }),
      layers = maggy.integer(1, 4),
      batch = maggy.discrete{ 16, 32, 64, 128 },
      act = maggy.categorical{ "relu", "tanh", "gelu" },
      bn = maggy.categorical{ true, false },
    }

    -- Best near lr = 1e-2, units = 128, layers = 2, batch = 32, act = gelu, bn = true.
    local function mixed_score(p)
      local s = (math.log10(p.lr) + 2) ^ 2 + (math.log(p.units / 128)) ^ 2 + (p.layers - 2) ^ 2 * 0.3
      s = s + (p.batch == 32 and 0 or 0.5) + (p.act == "gelu" and 0 or 1) + (p.bn and 0 or 0.7) + p.drop
      return s
    end

    it("respect every parameter type and bound, with EI and UCB", function()
      for _, acquisition in ipairs({ "ei", "ucb" }) do
        local opt = gp.new{ n_startup = 6, acquisition = acquisition, n_candidates = 128 }
        local list, ctx = run(opt, new_ctx(MIXED, 3), mixed_score, 20)
        local acts = {}
        for _, p in ipairs(list) do
          assert.is_true(ctx.space:validate(p))
          assert.are.equal(math.floor(p.units), p.units)
          acts[p.act] = true
        end
        assert.is_not_nil(opt.theta) -- the model phase ran
        assert.are.equal(10 + 2, #opt.theta) -- 5 inputs, one-hot 3 + 2, signal, noise
        assert.is_true(best_value(ctx) < 2)
      end
    end)

    it("see a repeat of a good result at the mean score; first ones and bad repeats as they are", function()
      local obs = {}
      for i, score in ipairs({ 1, 2, 1, 3, 3, 1, 2 }) do obs[i] = { score = score, params = { i = i } } end
      local out = gp._repeats_at_mean(obs) -- lower is better; the mean is 13 / 7
      local scores = {}
      for i, o in ipairs(out) do
        scores[i] = o.score
        assert.are.equal(i, o.params.i)
      end
      assert.are.same({ 1, 2, 13 / 7, 3, 3, 13 / 7, 2 }, scores)
      assert.are.equal(1, obs[3].score) -- the caller's list is left alone
    end)

    it("spread over more cells of a plateau-ridden objective with repeats demoted", function()
      local space = { a = maggy.double(0, 1), b = maggy.double(0, 1), c = maggy.double(0, 1) }
      local f = support.cells_objective()
      local function distinct(opts, seed)
        return support.distinct_values((run(gp.new(opts), new_ctx(space, seed), f, 40)), f)
      end
      local with, without = {}, {}
      for seed = 1, 8 do
        with[seed] = distinct({}, seed)
        without[seed] = distinct({ demote_repeats = false }, seed)
      end
      assert.is_true(median(with) > median(without), median(with) .. " vs " .. median(without))
    end)

    it("are deterministic for a seed and differ between seeds", function()
      local function go(seed)
        return (run(gp.new{ n_startup = 5, n_candidates = 64 }, new_ctx(MIXED, seed), mixed_score, 12))
      end
      assert.are.same(go(4), go(4))
      assert.are_not.same(go(4), go(5))
    end)

    it("follow the direction: maximizing -branin finds its maximum", function()
      local ctx = new_ctx(BRANIN_SPACE, 2, "max")
      run(gp.new{}, ctx, function(p) return -branin(p) end, 25)
      assert.is_true(best_value(ctx) > -0.6)
    end)

    it("never repeat an existing trial while unexplored values remain", function()
      local ctx = new_ctx({ k = maggy.integer(1, 12), c = maggy.categorical{ "a", "b" } }, 1)
      local opt = gp.new{ n_startup = 3 }
      local seen = {}
      for i = 1, 24 do
        local p = opt:suggest(ctx)
        local key = ctx.space:key(p)
        if i > 3 then assert.is_nil(seen[key]) end
        seen[key] = true
        add(ctx, p, "FINISHED", function(q) return (q.k - 7) ^ 2 + (q.c == "a" and 1 or 0) end)
      end
    end)

    it("ignore failed trials and learn from early-stopped ones", function()
      local ctx, opt = new_ctx(BRANIN_SPACE, 6), gp.new{ n_startup = 4, pending = "liar" }
      for i = 1, 12 do
        local state = ({ "FINISHED", "FAILED", "EARLY_STOPPED" })[i % 3 + 1]
        add(ctx, opt:suggest(ctx), state, branin)
      end
      assert.is_true(ctx.space:validate(opt:suggest(ctx)))
    end)

    it("cope with every score equal", function()
      local _, ctx = run(gp.new{ n_startup = 3 }, new_ctx(BRANIN_SPACE, 1), function() return 1 end, 8)
      assert.are.equal(8, #ctx:trials())
    end)

    it("fit on a subset when there are more than max_fit_points trials", function()
      local opt = gp.new{ n_startup = 40, max_fit_points = 12, n_candidates = 64 }
      local list, ctx = run(opt, new_ctx(BRANIN_SPACE, 3), branin, 44)
      assert.is_true(ctx.space:validate(list[44]))
      assert.are.equal(4, #opt.theta)
    end)

    it("log the fitted length scales at the end", function()
      local opt = gp.new{ n_startup = 5 }
      local _, ctx = run(opt, new_ctx(BRANIN_SPACE, 1), branin, 7)
      opt:finalize(ctx, ctx:trials())
      assert.matches("^gp: length scales %(unit cube%) x1=%S+ x2=%S+$", Ctx.take_logs(ctx)[1])
    end)
  end)

  describe("pending trials", function()
    -- 8 suggestions in a row after 10 results, each left running.
    local function batch(opts, keep_pending)
      local ctx, opt = new_ctx(BRANIN_SPACE, 2), gp.new(opts)
      run(opt, ctx, branin, 10)
      local units = {}
      for i = 1, 8 do
        local p = opt:suggest(ctx)
        units[i] = ctx.space:to_unit(p)
        if keep_pending then add(ctx, p, "RUNNING") end
      end
      local closest, farthest = math.huge, 0
      for i = 1, 8 do
        for j = i + 1, 8 do
          closest = math.min(closest, distance(units[i], units[j]))
          farthest = math.max(farthest, distance(units[i], units[j]))
        end
      end
      return closest, farthest
    end

    it("spread out with the kriging believer and with the constant liar", function()
      for _, pending in ipairs({ "kriging", "liar" }) do
        local closest, farthest = batch({ pending = pending }, true)
        assert.is_true(closest > 0.02, pending .. ": two suggestions only " .. closest .. " apart")
        assert.is_true(farthest > 0.5, pending .. ": all suggestions within " .. farthest)
      end
    end)

    it("are what spreads them: without any, the suggestions pile up", function()
      local closest = batch({}, false)
      assert.is_true(closest < 0.01)
    end)
  end)

  describe("quality", function()
    it("beats random search on Branin after 30 trials (median of 5 seeds)", function()
      local gp_best, random_best = {}, {}
      for seed = 1, 5 do
        local _, ctx = run(gp.new{}, new_ctx(BRANIN_SPACE, seed), branin, 30)
        gp_best[seed] = best_value(ctx)
        _, ctx = run(maggy.optimizers.random{}, new_ctx(BRANIN_SPACE, seed), branin, 30)
        random_best[seed] = best_value(ctx)
      end
      local g, r = median(gp_best), median(random_best)
      assert.is_true(g < 0.5, "GP median best " .. g)
      assert.is_true(g < r / 2, string.format("GP median %.4f, random median %.4f", g, r))
    end)
  end)

  describe("the normal distribution", function()
    it("has an accurate CDF in the middle and the tails", function()
      assert.is_near(0.5, gp._cdf(0), 1e-15)
      assert.is_near(0.15865525393145705, gp._cdf(-1), 1e-15)
      assert.is_near(0.0013498980316301, gp._cdf(-3), 1e-15)
      assert.is_near(2.866515718791939e-07, gp._cdf(-5), 1e-20)
      assert.is_near(7.61985302416047e-24, gp._cdf(-10), 1e-35)
      assert.is_near(0.9986501019683699, gp._cdf(3), 1e-15)
    end)

    it("keeps log EI finite and monotone far below the incumbent", function()
      local last = math.huge
      for z = 5, -60, -0.5 do
        local v = gp._log_h(z)
        assert.is_true(v < last and v > -math.huge)
        last = v
      end
      -- continuous where the tail formula takes over
      assert.is_near(gp._log_h(-3 + 1e-9), gp._log_h(-3 - 1e-9), 1e-6)
    end)
  end)
end)
