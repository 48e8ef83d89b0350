local maggy = require "maggy"
local Ctx = require "maggy.ctx"
local trial = require("support.strategies").trial

local function ctx_for(direction)
  return Ctx.new({ direction = direction or "max", es_min = 4 })
end

-- Four finished curves whose averages at step 3 are 0.6, 0.7, 0.8, 0.9.
local function finished(flip)
  local out = {}
  for _, v in ipairs({ 0.6, 0.7, 0.8, 0.9 }) do
    local x = flip and -v or v
    out[#out + 1] = trial("FINISHED", { x, x, x, x, x })
  end
  return out
end

describe("earlystop.median", function()
  it("stops a clearly bad running trial and keeps a good one", function()
    local bad, good = trial("RUNNING", { 0.1, 0.2, 0.3 }), trial("RUNNING", { 0.5, 0.9, 0.95 })
    local rule = maggy.earlystop.median{}
    assert.are.same({ bad.id }, rule:check(ctx_for(), { bad, good }, finished()))
  end)

  it("compares the running trial's best so far, not its latest value", function()
    local dipped = trial("RUNNING", { 0.2, 0.8, 0.1 }) -- best 0.8 > median 0.75
    assert.are.same({}, maggy.earlystop.median{}:check(ctx_for(), { dipped }, finished()))
  end)

  it("uses the running average of each finished trial up to the step", function()
    -- averages at step 2: 0.5 and 0.5 and 0.5 and 0.1 -> median 0.5
    local f = {
      trial("FINISHED", { 0.0, 1.0, 9 }), trial("FINISHED", { 0.5, 0.5, 9 }),
      trial("FINISHED", { 1.0, 0.0, 9 }), trial("FINISHED", { 0.1, 0.1, 9 }),
    }
    local just_below, at = trial("RUNNING", { 0.49, 0.4 }), trial("RUNNING", { 0.5, 0.3 })
    assert.are.same({ just_below.id }, maggy.earlystop.median{}:check(ctx_for(), { just_below, at }, f))
  end)

  it("stops nothing with fewer than min_trials comparable finished trials", function()
    local bad = trial("RUNNING", { 0.1, 0.1, 0.1 })
    local f = finished()
    table.remove(f)
    assert.are.same({}, maggy.earlystop.median{}:check(ctx_for(), { bad }, f))
    assert.are.same({ bad.id }, maggy.earlystop.median{ min_trials = 3 }:check(ctx_for(), { bad }, f))
  end)

  it("only counts FINISHED trials that reached the running trial's step", function()
    local bad = trial("RUNNING", { 0.1, 0.1, 0.1 })
    local f = finished()
    f[1] = trial("FINISHED", { 0.9, 0.9 })   -- ended before step 3
    f[2].state = "EARLY_STOPPED"
    assert.are.same({}, maggy.earlystop.median{ min_trials = 3 }:check(ctx_for(), { bad }, f))
  end)

  it("waits for the grace period", function()
    local bad = trial("RUNNING", { 0.1, 0.1, 0.1 })
    assert.are.same({}, maggy.earlystop.median{ grace = 4 }:check(ctx_for(), { bad }, finished()))
    assert.are.same({ bad.id }, maggy.earlystop.median{ grace = 3 }:check(ctx_for(), { bad }, finished()))
    assert.are.same({}, maggy.earlystop.median{}:check(ctx_for(), { trial("RUNNING", {}) }, finished()))
  end)

  it("works for direction min", function()
    local bad, good = trial("RUNNING", { -0.1, -0.2, -0.3 }), trial("RUNNING", { -0.5, -0.9, -0.95 })
    assert.are.same({ bad.id }, maggy.earlystop.median{}:check(ctx_for("min"), { bad, good }, finished(true)))
  end)

  it("checks its options", function()
    assert.has_error(function() maggy.earlystop.median{ grace = -1 } end)
    assert.has_error(function() maggy.earlystop.median{ min_trials = 0 } end)
  end)
end)

describe("earlystop.none", function()
  it("never stops anything", function()
    local bad = trial("RUNNING", { 0.1, 0.1, 0.1 })
    assert.are.same({}, maggy.earlystop.none{}:check(ctx_for(), { bad }, finished()))
  end)
end)
