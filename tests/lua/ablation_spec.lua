local maggy = require "maggy"
local ablation = require "maggy.ablation"
local Ctx = require "maggy.ctx"
local Trial = require "maggy.trial"
local rng = require "maggy.rng"
local stats = require "maggy.stats"

local function study(fields)
  local s, err = ablation.new(fields)
  assert(s, err)
  return s
end

local function ctx_for(s, direction)
  return Ctx.new({ space = s.space, ablation = s, rng = rng.new(3), direction = direction or "max",
                   metric = "acc" })
end

local function plan(s)
  local ctx = ctx_for(s)
  local opt = s:optimizer()
  opt:initialize(ctx)
  local out = {}
  for i = 1, opt:count(ctx) do out[i] = opt:suggest(ctx) end
  assert.is_nil(opt:suggest(ctx))
  return out, opt, ctx
end

local function left_out(p)
  local all = {}
  for _, kind in ipairs(ablation.KINDS) do
    for _, n in ipairs(p.ablate[kind]) do all[#all + 1] = kind .. ":" .. n end
  end
  return table.concat(all, " ")
end

describe("maggy.ablation", function()
  it("makes one item per feature, layer, component and group", function()
    local s = study {
      base = { lr = 0.1 },
      features = { "a", "b" }, feature_groups = { ab = { "a", "b" } },
      layers = { "conv1", "fc1", "fc2" }, layer_groups = { dense = { prefix = "fc" } },
      components = { "aug" },
    }
    local labels = {}
    for i, item in ipairs(s.items) do labels[i] = ablation.label(item) end
    assert.are.same({ "feature a", "feature b", "feature group ab", "layer conv1", "layer fc1", "layer fc2",
      "layer group dense", "component aug" }, labels)
    assert.are.same({ "fc1", "fc2" }, s.items[7].members)
  end)

  it("loco: the base first, one trial per item, the whole plan per repeat with one seed", function()
    local s = study { base = { lr = 0.1, act = "relu" }, features = { "a", "b" },
                      layer_groups = { dense = { "fc1", "fc2" } }, components = { "aug" }, repeats = 3 }
    local trials = plan(s)
    assert.are.equal(3 * (1 + 4), #trials)
    for r = 0, 2 do
      local block = { unpack(trials, r * 5 + 1, r * 5 + 5) }
      assert.are.equal("", left_out(block[1])) -- the base
      assert.are.same({ "features:a", "features:b", "layers:fc1 layers:fc2", "components:aug" },
        { left_out(block[2]), left_out(block[3]), left_out(block[4]), left_out(block[5]) })
      for _, p in ipairs(block) do
        assert.are.equal(block[1].seed, p.seed)
        assert.are.equal(0.1, p.lr)
        assert.are.equal("relu", p.act)
      end
    end
    assert.are_not.equal(trials[1].seed, trials[6].seed)
  end)

  it("passes no seed when nothing repeats", function()
    local trials = plan(study { base = { lr = 0.1 }, components = { "aug" } })
    assert.are.equal(2, #trials)
    assert.is_nil(trials[1].seed)
  end)

  it("refuses studies that cannot run, naming the field", function()
    local cases = {
      { { base = { lr = 0.1 } }, "nothing to leave out" },
      { { features = { "a" } }, "base must be a table" },
      { { base = { lr = 0.1 }, features = { "a" }, weights = { "w" } }, "unknown field 'weights'" },
      { { base = { lr = 0.1 }, features = { "a", "a" } }, "names 'a' twice" },
      { { base = { lr = 0.1 }, features = { "a", 3 } }, "features[2] must be a non-empty string" },
      { { base = { lr = 0.1 }, layers = { "c1" }, layer_groups = { d = { prefix = "fc" } } }, "no name starts with 'fc'" },
      { { base = { lr = 0.1 }, feature_groups = { g = {} } }, "feature_groups.g is empty" },
      { { base = { lr = 0.1 }, features = { "a", "b" }, feature_groups = { g1 = { "a" } } },
        "feature group g1 leaves out the same as feature a (a)" },
      { { base = { lr = 0.1 }, feature_groups = { g2 = { "b", "a" }, g3 = { "a", "b" } } },
        "feature group g3 leaves out the same as feature group g2" },
      { { base = { lr = 0.1 }, layers = { "fc1" }, layer_groups = { dense = { prefix = "fc" } } },
        "layer group dense leaves out the same as layer fc1" },
      { { base = { lr = 0.1 }, components = { "x" }, repeats = 0 }, "repeats must be an integer" },
      { { base = { lr = 0.1 }, components = { "x" }, ablator = "shap" }, "unknown ablator 'shap' (built-in: loco, path)" },
      { { base = { lr = 2 }, components = { "x" }, space = maggy.searchspace { lr = maggy.double(0, 1) } },
        "the base configuration is not in the space" },
      { { base = { lr = { 1 } }, components = { "x" } }, "base.lr must be a number, string or boolean" },
    }
    for _, case in ipairs(cases) do
      local s, err = ablation.new(case[1])
      assert.is_nil(s, case[2])
      assert.matches(case[2], err, 1, true)
    end
  end)

  it("is an experiment's space and optimizer", function()
    local e = maggy.experiment { name = "abl", train = "t:t",
      ablation = maggy.ablation { base = { lr = 0.1 }, components = { "aug" } } }
    assert.are.equal("loco", e.optimizer.name)
    assert.is_true(e.space:validate({ lr = 0.1 }))
    assert.has_error(function()
      maggy.experiment { name = "abl", train = "t:t", optimizer = "tpe",
        ablation = maggy.ablation { base = { lr = 0.1 }, components = { "aug" } } }
    end)
  end)

  it("reports each item's mean, its delta to the base with a CI, and ranks by harm", function()
    local s = study { base = { lr = 0.1 }, features = { "a", "b" }, components = { "c" }, repeats = 3 }
    local trials, _, ctx = plan(s)
    -- leaving a out costs 0.3, b 0.1, c nothing; one trial of c fails
    local cost = { [""] = 0, ["features:a"] = 0.3, ["features:b"] = 0.1, ["components:c"] = 0 }
    for i, p in ipairs(trials) do
      local t = Trial.new(string.format("%016x", i), i, p)
      local noise = ({ -0.01, 0, 0.01 })[math.floor((i - 1) / 4) % 3 + 1]
      t.state, t.value = "FINISHED", 0.9 - cost[left_out(p)] + noise
      if i == 8 then t.state, t.value = "FAILED", nil end
      Ctx.add_trial(ctx, t)
    end
    local r = s:report(ctx)
    assert.are.equal(3, r.base.n)
    assert.near(0.9, r.base.mean, 1e-9)
    local a, b, c = r.rows[1], r.rows[2], r.rows[3]
    assert.are.same({ "feature a", "feature b", "component c" }, { a.component, b.component, c.component })
    assert.near(-0.3, a.delta, 1e-9)
    assert.near(-0.1, b.delta, 1e-9)
    assert.are.equal(2, c.n)
    assert.are.equal(1, c.failed)
    assert.are.same({ 1, 2, 3 }, { a.rank, b.rank, c.rank })
    assert.is_true(a.significant)
    assert.is_false(c.significant)
  end)

  -- A study's trials with value base - cost(left out) + effect(seed).
  local function finished(s, cost, effect)
    local trials, _, ctx = plan(s)
    for i, p in ipairs(trials) do
      local t = Trial.new(string.format("%016x", i), i, p)
      t.state, t.value = "FINISHED", 0.9 - (cost[left_out(p)] or 0) + effect(p.seed)
      Ctx.add_trial(ctx, t)
    end
    return ctx
  end

  it("pairs each repeat with the base's of the same seed: what the seed does cancels out", function()
    local s = study { base = { lr = 0.1 }, features = { "a" }, repeats = 4 }
    local ctx = finished(s, { ["features:a"] = 0.02 }, function(seed) return seed % 5 * 0.05 end)
    local r = s:report(ctx)
    local a = r.rows[1]
    assert.near(-0.02, a.delta, 1e-9)
    assert.near(0, a.delta_ci95, 1e-9)
    assert.is_true(stats.welch_ci95(a.sd, a.n, r.base.sd, r.base.n) > 0.02) -- unpaired: noise
    assert.is_true(a.significant)
  end)

  it("ranks equal harm equally", function()
    local s = study { base = { lr = 0.1 }, features = { "a", "b", "c" } }
    local r = s:report(finished(s, { ["features:b"] = 0.1 }, function() return 0 end))
    assert.are.same({ 2, 1, 2 }, { r.rows[1].rank, r.rows[2].rank, r.rows[3].rank })
  end)

  it("refuses an item that is not the study's, blaming the caller", function()
    local s = study { base = { lr = 0.1 }, features = { "a" } }
    assert.has_error(function() s:params({ kind = "features", name = "a" }, 1) end,
      "ablation: item 1 is table, not one of study.items (pass those, or lists of them; nil for the base)")
    assert.has_error(function() s:params("a", 1) end)
    assert.are.same({ "a" }, s:params(s.items[1], 1).ablate.features)
  end)

  it("refuses an empty base and an early-stop rule, saying why", function()
    local s, err = ablation.new { base = {}, features = { "a" } }
    assert.is_nil(s)
    assert.matches("base is empty: give at least one hyperparameter", err, 1, true)
    local ok, eerr = pcall(maggy.experiment, { name = "abl", train = "t:t", earlystop = "median",
      ablation = maggy.ablation { base = { lr = 0.1 }, components = { "aug" } } })
    assert.is_false(ok)
    assert.matches("an early-stop rule would stop some part way", eerr, 1, true)
  end)

  it("checks an ablator's own report: a table of rows with finite numbers", function()
    local s = study { base = { lr = 0.1 }, features = { "a" } }
    local good = s:report(finished(s, {}, function() return 0 end))
    assert.is_nil(ablation.check_report(good))
    assert.is_nil(ablation.check_report({ path = {} }))
    assert.are.equal("returned number 42, not a table", ablation.check_report(42))
    assert.matches("without rows", ablation.check_report({}), 1, true)
    assert.are.equal("rows[1] is number 1, not a table", ablation.check_report({ rows = { 1 } }))
    assert.matches("rows[1] needs component (a string) and n (a number), got nil and number 3",
      ablation.check_report({ rows = { { n = 3 } } }), 1, true)
    good.rows[1].delta = 1 / 0
    assert.matches("rows[1].delta is inf: a report's numbers must be finite",
      ablation.check_report(good), 1, true)
  end)
end)

describe("ablators.path", function()
  local base = { lr = 0.01, depth = 2, act = "relu" }
  local target = { lr = 0.1, depth = 8, act = "tanh" }
  local gains = { lr = 0.2, depth = 0.1, act = 0.01 }

  -- Runs the ablator, finishing each round's trials when it waits.
  local function walk(repeats)
    local s = study { base = base, target = target, repeats = repeats }
    local ctx = ctx_for(s)
    local opt = s:optimizer()
    opt:initialize(ctx)
    local n, running = 0, {}
    while true do
      local p = opt:suggest(ctx)
      if p == nil then break end
      if p == maggy.WAIT then
        assert.is_true(#running > 0, "waits with nothing running")
        for _, t in ipairs(running) do
          local v = 0.5
          for k, g in pairs(gains) do if t.params[k] == target[k] then v = v + g end end
          t.state, t.value = "FINISHED", v
          opt:observe(ctx, t)
        end
        running = {}
      else
        n = n + 1
        local t = Trial.new(string.format("%016x", n), n, p)
        Ctx.add_trial(ctx, t)
        running[#running + 1] = t
      end
    end
    return opt, ctx, n
  end

  it("walks from the base to the target, the biggest gain first", function()
    local opt, ctx, n = walk(2)
    assert.are.equal(opt:count(ctx), n)
    assert.are.equal(2 * (1 + 3 + 2 + 1), n)
    local r = opt:report(ctx)
    local changes = {}
    for i, step in ipairs(r.path) do changes[i] = step.change or "base" end
    assert.are.same({ "base", "lr", "depth", "act" }, changes)
    assert.near(0.2, r.path[2].delta, 1e-9)
    assert.are.equal(0.01, r.path[2].from)
    assert.are.equal(0.1, r.path[2].to)
  end)

  it("is the default ablator of a study with a target, and refuses what it cannot walk", function()
    assert.are.equal("path", study { base = base, target = target }:optimizer().name)
    local cases = {
      { { base = base, target = base }, "base and target are the same configuration" },
      { { base = base, target = { lr = 0.1 } }, "target has no value for" },
      { { base = base, target = target, features = { "a" } }, "takes no features, layers or components" },
      { { base = base, ablator = "path", components = { "x" } }, "needs a target configuration" },
    }
    for _, case in ipairs(cases) do
      local s, err = ablation.new(case[1])
      assert.is_nil(s, case[2])
      assert.matches(case[2], err, 1, true)
    end
  end)
end)

describe("maggy.stats", function()
  it("gives Student's t quantiles and Welch's interval", function()
    assert.near(12.706, stats.t975(1), 1e-9)
    assert.near(2.262, stats.t975(9), 1e-9)
    assert.is_true(stats.t975(1000) > 1.96 and stats.t975(1000) < 1.97)
    local mean, sd = stats.mean_sd({ 1, 2, 3, 4 })
    assert.near(2.5, mean, 1e-12)
    assert.near(math.sqrt(5 / 3), sd, 1e-12)
    assert.near(3.182 * sd / 2, stats.ci95(sd, 4), 1e-12)
    assert.is_nil(stats.ci95(nil, 1))
    -- equal variances and sizes: df = 2(n - 1)
    assert.near(2.447 * math.sqrt(2 * sd ^ 2 / 4), stats.welch_ci95(sd, 4, sd, 4), 1e-12)
  end)
end)

describe("a study's base from an earlier experiment", function()
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir)

  local function write_summary(text)
    local f = assert(io.open(dir .. "/summary.json", "w"))
    f:write(text)
    f:close()
  end

  it("takes the best trial's params, without budget, ablate or seed", function()
    write_summary('{"best": {"trial_id": "x", "value": 0.9, "params": {"lr": 0.03, "act": "tanh", "budget": 9}}}')
    local s = study { base = { lr = 0.001, act = "relu" }, target = dir }
    assert.are.same({ lr = 0.03, act = "tanh" }, s.target)
    ablation.set_script_dir("/nowhere")
    local again = study { base = dir, components = { "aug" } } -- absolute: the script's folder is not used
    assert.are.same({ lr = 0.03, act = "tanh" }, again.base)
    ablation.set_script_dir(nil)
  end)

  it("says what is missing", function()
    write_summary('{"best": null}')
    local s, err = ablation.new { base = dir, components = { "aug" } }
    assert.is_nil(s)
    assert.matches("has no best trial", err, 1, true)
    s, err = ablation.new { base = dir .. "/nope", components = { "aug" } }
    assert.is_nil(s)
    assert.matches("no summary.json in", err, 1, true)
    os.execute("rm -rf " .. dir)
  end)
end)
