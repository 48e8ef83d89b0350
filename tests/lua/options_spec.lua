-- A misspelled option is an error naming the valid ones, in every
-- constructor of the library: never a default used in silence.
local maggy = require "maggy"

-- Each case: a function that must fail, and what its message must hold.
local function each_refused(cases)
  for _, case in ipairs(cases) do
    local ok, err = pcall(case[1])
    assert.is_false(ok, case[2])
    assert.matches(case[2], err, 1, true)
  end
end

describe("options of the library's constructors", function()
  it("refuses an option it does not have, naming those it has", function()
    local cases = {
      { function() maggy.earlystop.median { grac = 2 } end,
        "earlystop.median: unknown option 'grac' (valid: grace, min_trials)" },
      { function() maggy.earlystop.percentile { percentil = 25 } end,
        "earlystop.percentile: unknown option 'percentil' (valid: percentile, grace, min_trials)" },
      { function() maggy.earlystop.plateau { patiance = 3 } end,
        "earlystop.plateau: unknown option 'patiance' (valid: patience, min_delta, grace, min_trials)" },
      { function() maggy.optimizers.grid { point = 3 } end,
        "optimizers.grid: unknown option 'point' (valid: points)" },
      { function() maggy.optimizers.random { sed = 3 } end,
        "optimizers.random: unknown option 'sed' (it takes none)" },
      { function() maggy.double(1e-4, 1, { logg = true }) end,
        "maggy.double: unknown option 'logg' (valid: log)" },
      { function() maggy.optimizers.tpe { n_startups = 3 } end,
        "optimizers.tpe: unknown option 'n_startups' (valid: " },
    }
    each_refused(cases)
  end)

  it("takes the options it has", function()
    assert.is_table(maggy.earlystop.median { grace = 2, min_trials = 3 })
    assert.is_table(maggy.optimizers.grid { points = 3 })
    assert.is_table(maggy.optimizers.random {})
  end)
end)

describe("names the library does not have", function()
  it("are errors that list those it has", function()
    local cases = {
      { function() return maggy.earlystop.medain end,
        "maggy.earlystop has no 'medain' (it has: median, none, percentile, plateau)" },
      { function() return maggy.optimizers.tpee end, "maggy.optimizers has no 'tpee' (it has: asha, " },
      { function() return maggy.dobule end, "maggy has no 'dobule' (it has: WAIT, ablation, " },
    }
    each_refused(cases)
  end)
end)
