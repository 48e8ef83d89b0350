-- The `maggy` module: everything an experiment script needs.
--
--   local maggy = require "maggy"
--   return maggy.experiment{
--     name = "fashion", train = "train:train", num_trials = 100,
--     space = maggy.searchspace{
--       lr = maggy.double(1e-5, 1e-1, {log = true}),
--       kernel = {"INTEGER", {2, 8}},
--     },
--     optimizer = maggy.optimizers.random{},
--     earlystop = maggy.earlystop.median{grace = 2},
--   }
--
-- Errors in these calls point at the line of the script that made them.
-- See docs/lua.md for the whole guide.

local searchspace = require "maggy.searchspace"
local options = require "maggy.options"
local experiment = require "maggy.experiment"
local ablation = require "maggy.ablation"

local maggy = {}

-- What an optimizer's suggest returns when it has nothing to run until a
-- running trial reports back.
maggy.WAIT = setmetatable({}, {
  __tostring = function() return "maggy.WAIT" end,
  __newindex = function() error("maggy.WAIT is read-only", 2) end,
  __metatable = "maggy.WAIT",
})

function maggy.experiment(fields)
  local e, err = experiment.new(fields)
  if not e then experiment.raise(err) end
  return e
end

-- An ablation study (see maggy/ablation.lua and docs/lua.md).
function maggy.ablation(fields)
  local study, err = ablation.new(fields)
  if not study then experiment.raise(err) end
  return study
end

function maggy.searchspace(params)
  local space, err = searchspace.new(params)
  if not space then experiment.raise(err) end
  return space
end

local function log_option(who, opts)
  if opts == nil then return false end
  if type(opts) ~= "table" then
    error(string.format("maggy.%s: the options must be a table like {log = true}, got %s", who, type(opts)), 3)
  end
  local bad = options.unknown(opts, { "log" })
  if bad then error(string.format("maggy.%s: %s", who, bad), 3) end
  return opts.log and true or false
end

-- Bounds are checked by maggy.searchspace, where the parameter's name is known.
function maggy.double(low, high, opts)
  return searchspace.param("DOUBLE", { low = low, high = high, log = log_option("double", opts) })
end

function maggy.integer(low, high, opts)
  return searchspace.param("INTEGER", { low = low, high = high, log = log_option("integer", opts) })
end

function maggy.discrete(values)
  return searchspace.param("DISCRETE", { values = values })
end

function maggy.categorical(values)
  return searchspace.param("CATEGORICAL", { values = values })
end

-- maggy.optimizers.grid is the `new` function of maggy/optimizers/grid.lua,
-- loaded on first use; a name it does not have (a typo) is an error that
-- lists those it has.
local function constructors(who, modules)
  return setmetatable({}, {
    __index = function(t, name)
      local path = modules[name]
      if path == nil then
        local names = {}
        for known in pairs(modules) do names[#names + 1] = known end
        table.sort(names)
        error(string.format("%s has no '%s' (it has: %s)", who, tostring(name),
          table.concat(names, ", ")), 2)
      end
      local new = require(path).new
      rawset(t, name, new)
      return new
    end,
  })
end

maggy.optimizers = constructors("maggy.optimizers", experiment.OPTIMIZERS)
maggy.earlystop = constructors("maggy.earlystop", experiment.EARLYSTOP)

-- maggy.dobule(...): say so, and what there is, rather than "attempt to call
-- a nil value"
local NAMES = {}
for name in pairs(maggy) do NAMES[#NAMES + 1] = name end
table.sort(NAMES)
setmetatable(maggy, {
  __index = function(_, name)
    error(string.format("maggy has no '%s' (it has: %s)", tostring(name), table.concat(NAMES, ", ")), 2)
  end,
})

return maggy
