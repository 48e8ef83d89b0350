-- The experiment table an experiment script returns: its fields, their
-- defaults and their checks. `maggy.experiment{...}` calls `new`, which returns
-- the checked table with defaults filled in, or nil and a message naming the
-- field. Turning strategy names into instances is the runtime's job (`resolve_*`).

local describe = require "maggy.describe"
local searchspace = require "maggy.searchspace"
local ablation = require "maggy.ablation"

local M = {}

local Experiment = {}

M.OPTIMIZERS = {
  random = "maggy.optimizers.random", grid = "maggy.optimizers.grid",
  tpe = "maggy.optimizers.tpe", gp = "maggy.optimizers.gp",
  asha = "maggy.optimizers.asha", hyperband = "maggy.optimizers.hyperband",
  bohb = "maggy.optimizers.bohb",
}
M.EARLYSTOP = {
  median = "maggy.earlystop.median", percentile = "maggy.earlystop.percentile",
  plateau = "maggy.earlystop.plateau", none = "maggy.earlystop.none",
}

M.DEFAULTS = {
  optimizer = "random", earlystop = "none", direction = "max", metric = "metric",
  hb_interval = 1.0, es_interval = 1.0, es_min = 4, max_attempts = 3, strategy_timeout = 10,
  strategy_memory = 1024,
  trial_timeout = 0, exclude_after = 3, fail_fast = 3, max_trials_per_executor = 0,
  -- liveness_timeout: max(5 * hb_interval, 2) seconds unless given (see M.new)
}

M.LIVENESS_MIN = 2 -- seconds: the shortest default liveness timeout
M.MAX_TRIALS = 1e9 -- trials an experiment may have (the store counts them exactly)

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local function is_integer(v)
  return type(v) == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 53
end

local function positive_number(v)
  return type(v) == "number" and v > 0 and v < math.huge
end

local function string_list(v)
  if type(v) == "string" then return v ~= "" end
  if type(v) ~= "table" or #v == 0 then return false end
  for _, s in ipairs(v) do
    if type(s) ~= "string" or s == "" then return false end
  end
  return true
end

-- A built-in's name (in any case: "TPE" is "tpe") or a table with `method`.
local function strategy(names, method)
  return function(v)
    if type(v) == "string" then return names[v:lower()] ~= nil end
    return type(v) == "table" and type(v[method]) == "function"
  end
end

local function builtins(names, kind, method)
  return string.format("a built-in's name (%s), a %s instance or a table with a %s function",
    table.concat(sorted_keys(names), ", "), kind, method)
end

-- Field name -> {check, what a valid value is}. A nil value is checked only
-- for required fields; defaults are filled in after the checks.
local FIELDS = {
  name = { function(v) return type(v) == "string" and v ~= "" end, "a non-empty string" },
  train = { function(v) return type(v) == "string" and v:match("^[%a_][%w_%.]*:[%a_][%w_]*$") ~= nil end,
            "a \"module:function\" string like \"train:train\"" },
  python_path = { string_list, "a folder or a list of folders (relative to the script)" },
  space = { function(v) return type(v) == "table" end, "a maggy.searchspace{...} or a table of parameters" },
  ablation = { ablation.is_study, "a maggy.ablation{...} (in place of space and optimizer)" },
  optimizer = { strategy(M.OPTIMIZERS, "suggest"), builtins(M.OPTIMIZERS, "maggy.optimizers", "suggest") },
  earlystop = { strategy(M.EARLYSTOP, "check"), builtins(M.EARLYSTOP, "maggy.earlystop", "check") },
  num_trials = { function(v) return is_integer(v) and v >= 1 and v <= M.MAX_TRIALS end,
                 "a positive integer up to 1e9" },
  direction = { function(v) return v == "max" or v == "min" end, "\"max\" or \"min\"" },
  metric = { function(v) return type(v) == "string" and v ~= "" end, "a non-empty string" },
  hb_interval = { positive_number, "a number of seconds above 0" },
  es_interval = { positive_number, "a number of seconds above 0" },
  es_min = { function(v) return is_integer(v) and v >= 1 end, "an integer >= 1" },
  seed = { is_integer, "an integer below 2^53" },
  max_attempts = { function(v) return is_integer(v) and v >= 1 end, "an integer >= 1" },
  strategy_timeout = { positive_number, "a number of seconds above 0" },
  strategy_memory = { function(v) return type(v) == "number" and v >= 16 and v < 2 ^ 20 end,
                      "a number of MiB, at least 16" },
  liveness_timeout = { positive_number, "a number of seconds above 0" },
  trial_timeout = { function(v) return type(v) == "number" and v >= 0 and v < math.huge end,
                    "a number of seconds (0: no limit)" },
  exclude_after = { function(v) return is_integer(v) and v >= 0 end, "an integer >= 0 (0: never)" },
  max_trials_per_executor = { function(v) return is_integer(v) and v >= 0 end,
                              "an integer >= 0 (0: no limit)" },
  fail_fast = { function(v) return is_integer(v) and v >= 0 end, "an integer >= 0 (0: never)" },
}

local REQUIRED = { "name", "train", "space" }

-- Set while `maggy-engine simulate` loads a script: the benchmark's space
-- replaces the script's, and no training function is needed.
local benchmark_space

function M.set_benchmark_space(space)
  benchmark_space = space
end

local function required(k, t)
  if k == "space" and t.ablation ~= nil then return false end
  return not (benchmark_space and (k == "train" or k == "space"))
end

local function check_fields(t)
  for _, k in ipairs(sorted_keys(t)) do
    local field = FIELDS[k]
    if not field then
      return nil, string.format("experiment: unknown field '%s' (valid: %s)",
        tostring(k), table.concat(sorted_keys(FIELDS), ", "))
    end
    if not field[1](t[k]) then
      return nil, string.format("experiment: field '%s' must be %s, got %s", k, field[2], describe(t[k]))
    end
  end
  for _, k in ipairs(REQUIRED) do
    if t[k] == nil and required(k, t) then
      return nil, string.format("experiment: field '%s' is required (%s)", k, FIELDS[k][2])
    end
  end
  return true
end

-- A study simulated on a benchmark: the benchmark knows nothing to leave
-- out, so only a path between configurations of its space makes sense.
function M.check_simulated_study(study, space)
  if #study.items > 0 then
    return nil, "experiment: a benchmark has no features, layers or components to leave out: "
      .. "simulate an ablation path (base and target configurations of its space)"
  end
  for _, which in ipairs({ "base", "target" }) do
    local ok, err = space:validate(study[which])
    if not ok then
      return nil, string.format("experiment: the study's %s is not in the benchmark's space: %s", which, err)
    end
  end
  return true
end

-- Checks `t` and returns a new experiment table with defaults, or nil, err.
function M.new(t)
  if type(t) ~= "table" then
    return nil, "experiment: expected a table of fields, got " .. type(t)
  end
  local ok, err = check_fields(t)
  if not ok then return nil, err end
  if t.ablation and (t.space or t.optimizer) then
    return nil, "experiment: an ablation study brings its own space and ablator: give ablation "
      .. "without space and optimizer (the study's base and space fields say what they are)"
  end
  if t.ablation and t.earlystop ~= nil and M.strategy_name(t.earlystop) ~= "none" then
    return nil, "experiment: an ablation study runs every configuration to its end: an early-stop "
      .. "rule would stop some part way, and their means would mix in unfinished training "
      .. "(leave earlystop out)"
  end
  local space, serr = benchmark_space, nil
  if space and t.ablation then
    local aok, aerr = M.check_simulated_study(t.ablation, space)
    if not aok then return nil, aerr end
  end
  if not space and t.ablation then space = t.ablation.space end
  if not space then space, serr = searchspace.new(t.space) end
  if not space then return nil, serr end
  local e = setmetatable({}, Experiment)
  for k, v in pairs(M.DEFAULTS) do e[k] = v end
  for k, v in pairs(t) do e[k] = v end
  e.liveness_timeout = e.liveness_timeout or math.max(5 * e.hb_interval, M.LIVENESS_MIN)
  if e.liveness_timeout < 2 * e.hb_interval then
    return nil, string.format("experiment: field 'liveness_timeout' must be at least twice "
      .. "hb_interval (%g s): executors are heard once per hb_interval, so a shorter timeout "
      .. "declares working ones lost, got %g", e.hb_interval, e.liveness_timeout)
  end
  e.space = space
  if e.ablation then e.optimizer = e.ablation:optimizer() end
  if type(e.python_path) == "string" then e.python_path = { e.python_path } end
  return e
end

---------------------------------------------------------------------------
-- Blaming the right line
---------------------------------------------------------------------------

-- A script ends with `return maggy.experiment{...}`, a tail call: the script's
-- frame is gone when the check fails, and error(msg, 2) would blame whoever
-- ran the script. The runtime names the script it is running; the message
-- then carries that file and the line of its `return ... experiment` statement.

local script -- the script the runtime is running, or nil
local library = debug.getinfo(1, "S").source:match("^(@.*[/\\])[^/\\]*$") or "@?"

function M.set_script(path)
  script = path
end

local function return_line(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local found, n = nil, 0
  for line in f:lines() do
    n = n + 1
    if line:match("^%s*return%s+[%w_%.%(%)\"']*experiment%s*[{(]") then
      if found then found = false else found = n end
    end
  end
  f:close()
  return found or nil
end

local function from_library(source)
  return source:sub(1, 1) == "=" or source:sub(1, #library) == library
end

-- "path:line: " of where a strategy's method `fn` is defined, when it is
-- the user's (not the library's): what an error about what it returned
-- points at. "" otherwise.
function M.defined_at(fn)
  local info = type(fn) == "function" and debug.getinfo(fn, "S")
  if not info or from_library(info.source) or info.source:sub(1, 1) ~= "@" then return "" end
  return string.format("%s:%d: ", info.source:sub(2), info.linedefined)
end

-- "path:line:" of the script's `return ... experiment` statement, or "path:".
function M.where(path)
  local line = return_line(path)
  return path .. ":" .. (line and (line .. ":") or "")
end

-- Raises `err` at the caller of the function calling this one.
function M.raise(err)
  local caller = debug.getinfo(3, "S")
  if caller and not from_library(caller.source) then error(err, 3) end
  if not script then error(err, 0) end
  error(M.where(script) .. " " .. err, 0)
end

function M.is_experiment(x)
  return getmetatable(x) == Experiment
end

local function resolve(value, names)
  if type(value) == "string" then
    return require(names[value:lower()]).new({})
  end
  return value
end

-- The strategy instances of a checked experiment.
function M.resolve_optimizer(e)
  return resolve(e.optimizer, M.OPTIMIZERS)
end

function M.resolve_earlystop(e)
  return resolve(e.earlystop, M.EARLYSTOP)
end

-- The name reported in the config: the instance's `name` field, else "custom".
function M.strategy_name(value)
  if type(value) == "string" then return value:lower() end
  if type(value.name) == "string" then return value.name end
  return "custom"
end

return M
