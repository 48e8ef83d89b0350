local maggy = require "maggy"
local Ctx = require "maggy.ctx"
local trial = require("support.strategies").trial

local function ctx_with(direction, trials)
  local ctx = Ctx.new({ direction = direction or "max", es_min = 4 })
  for _, t in ipairs(trials or {}) do Ctx.add_trial(ctx, t) end
  return ctx
end

-- Finished curves whose averages at step 3 are 0.1, 0.2, ..., 1.0.
local function ten_finished()
  local out = {}
  for i = 1, 10 do
    local v = i / 10
    out[i] = trial("FINISHED", { v, v, v, v })
  end
  return out
end

describe("earlystop.percentile", function()
  it("keeps only the top percentile", function()
    local f = ten_finished()
    local at_07, at_05 = trial("RUNNING", { 0.7, 0.7, 0.7 }), trial("RUNNING", { 0.5, 0.5, 0.5 })
    -- top 25% threshold: rank 0.25 * 9 from the best = 1.0 - 0.225 = 0.775
    assert.are.same({ at_07.id, at_05.id }, maggy.earlystop.percentile{ percentile = 25 }:check(ctx_with(), { at_07, at_05 }, f))
    -- top 50%: the median 0.55
    assert.are.same({ at_05.id }, maggy.earlystop.percentile{}:check(ctx_with(), { at_07, at_05 }, f))
    assert.are.same({}, maggy.earlystop.percentile{ percentile = 100 }:check(ctx_with(), { at_07, at_05 }, f))
  end)

  it("ranks the other way for direction min", function()
    local f = ten_finished()
    local low, high = trial("RUNNING", { 0.2, 0.2, 0.2 }), trial("RUNNING", { 0.4, 0.4, 0.4 })
    assert.are.same({ high.id }, maggy.earlystop.percentile{ percentile = 25 }:check(ctx_with("min"), { low, high }, f))
  end)

  it("honours grace and min_trials", function()
    local f = ten_finished()
    local bad = trial("RUNNING", { 0.0, 0.0, 0.0 })
    assert.are.same({}, maggy.earlystop.percentile{ grace = 4 }:check(ctx_with(), { bad }, f))
    assert.are.same({}, maggy.earlystop.percentile{ min_trials = 11 }:check(ctx_with(), { bad }, f))
    assert.are.same({ bad.id }, maggy.earlystop.percentile{ min_trials = 10 }:check(ctx_with(), { bad }, f))
  end)

  it("sees a finished trial's history once it is complete", function()
    local rule = maggy.earlystop.percentile{ min_trials = 1 }
    local f = trial("FINISHED", { 0.5 })
    local bad = trial("RUNNING", { 0.1 })
    assert.are.same({ bad.id }, rule:check(ctx_with(), { bad }, { f }))
    f:add_point(2, 0.9)
    local later = trial("RUNNING", { 0.6, 0.6 }) -- average of f at step 2: 0.7
    assert.are.same({ later.id }, rule:check(ctx_with(), { later }, { f }))
  end)

  it("follows a running trial's history from check to check", function()
    local rule, f = maggy.earlystop.percentile{}, ten_finished() -- median 0.55
    local t = trial("RUNNING", { 0.1, 0.2, 0.3 })
    assert.are.same({ t.id }, rule:check(ctx_with(), { t }, f))
    t:add_point(4, 0.8)
    assert.are.same({}, rule:check(ctx_with(), { t }, f))
    t:add_point(4, 0.4) -- the best point reported again, worse
    assert.are.same({ t.id }, rule:check(ctx_with(), { t }, f))
    t:clear_history()
    for step, v in ipairs({ 0.9, 0.9, 0.9 }) do t:add_point(step, v) end
    assert.are.same({}, rule:check(ctx_with(), { t }, f))
  end)

  it("forgets the trials that stopped running", function()
    local rule, f = maggy.earlystop.percentile{}, ten_finished()
    local running = {}
    for i = 1, 100 do running[i] = trial("RUNNING", { 0.6, 0.6, 0.6 }) end
    assert.are.same({}, rule:check(ctx_with(), running, f))
    assert.is_not_nil(next(rule._best))
    for i = 1, 100 do running[i].state = "EARLY_STOPPED" end -- never in f
    rule:check(ctx_with(), {}, f)
    assert.is_nil(next(rule._best))
    assert.are.equal(0, rule._kept)
  end)

  it("checks its options", function()
    assert.has_error(function() maggy.earlystop.percentile{ percentile = 0 } end, nil)
    assert.has_error(function() maggy.earlystop.percentile{ percentile = 101 } end)
    assert.has_error(function() maggy.earlystop.percentile{ grace = 1.5 } end)
    assert.has_error(function() maggy.earlystop.median{ percentile = 10 } end)
  end)
end)

describe("earlystop.plateau", function()
  it("stops a trial that has not improved for patience steps, alone", function()
    local flat = trial("RUNNING", { 0.5, 0.6, 0.6, 0.6, 0.59 })
    local rising = trial("RUNNING", { 0.5, 0.6, 0.6, 0.6, 0.61 })
    local rule = maggy.earlystop.plateau{ patience = 3 }
    assert.are.same({ flat.id }, rule:check(ctx_with(), { flat, rising }, {}))
  end)

  it("cannot judge before patience + 1 steps and waits for grace", function()
    local flat = trial("RUNNING", { 0.5, 0.5, 0.5 })
    assert.are.same({}, maggy.earlystop.plateau{ patience = 3 }:check(ctx_with(), { flat }, {}))
    assert.are.same({ flat.id }, maggy.earlystop.plateau{ patience = 2 }:check(ctx_with(), { flat }, {}))
    assert.are.same({}, maggy.earlystop.plateau{ patience = 2, grace = 4 }:check(ctx_with(), { flat }, {}))
  end)

  it("uses min_delta and the direction", function()
    local tiny = trial("RUNNING", { 0.5, 0.5, 0.501 })
    assert.are.same({}, maggy.earlystop.plateau{ patience = 2 }:check(ctx_with(), { tiny }, {}))
    assert.are.same({ tiny.id }, maggy.earlystop.plateau{ patience = 2, min_delta = 0.01 }:check(ctx_with(), { tiny }, {}))
    local falling = trial("RUNNING", { 0.5, 0.4, 0.3 })
    assert.are.same({}, maggy.earlystop.plateau{ patience = 2 }:check(ctx_with("min"), { falling }, {}))
    assert.are.same({ falling.id }, maggy.earlystop.plateau{ patience = 2 }:check(ctx_with("max"), { falling }, {}))
  end)

  it("waits for min_trials finished trials when asked", function()
    local flat = trial("RUNNING", { 0.5, 0.5, 0.5 })
    local done = trial("FINISHED", { 0.5 })
    local rule = maggy.earlystop.plateau{ patience = 2, min_trials = 1 }
    assert.are.same({}, rule:check(ctx_with("max", { flat }), { flat }, {}))
    assert.are.same({ flat.id }, rule:check(ctx_with("max", { flat, done }), { flat }, { done }))
  end)

  it("checks its options", function()
    assert.has_error(function() maggy.earlystop.plateau{ patience = 0 } end)
    assert.has_error(function() maggy.earlystop.plateau{ min_delta = -1 } end)
    assert.has_error(function() maggy.earlystop.plateau{ min_trials = -1 } end)
  end)
end)
