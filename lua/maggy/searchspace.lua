-- The search space: named parameters of four types (Maggy's own).
--
--   DOUBLE       real numbers in [low, high], optionally on a log scale
--   INTEGER      integers in [low, high], optionally on a log scale
--   DISCRETE     a list of numbers, kept sorted ascending
--   CATEGORICAL  a list of strings, numbers or booleans, kept in the given order
--
-- A parameter is given either with the constructors of the `maggy` module
-- (`maggy.double(1e-5, 1, {log = true})`) or as Maggy's tuple
-- (`{"DOUBLE", {1e-5, 1}}`, type name in any case, an optional third element
-- `{log = true}`). Every check returns `nil, err` here; the `maggy` module turns
-- that into an error pointing at the user's script.
--
-- A space is immutable once built. Strategies read it through `ctx.space`.

local describe = require "maggy.describe"
local M = {}

local Space = {}
local objects = { __index = Space } -- their metatable: not Space itself (sandbox.lua)

local TYPES = { "DOUBLE", "INTEGER", "DISCRETE", "CATEGORICAL" }
local IS_TYPE = { DOUBLE = true, INTEGER = true, DISCRETE = true, CATEGORICAL = true }

-- Parameters become keyword arguments of the Python training function;
-- `budget` is the one multi-fidelity optimizers add, `ablate` and `seed`
-- those of ablation studies (see docs/lua.md).
local RESERVED = { reporter = true, budget = true, ablate = true, seed = true }

local floor, log, exp = math.floor, math.log, math.exp

local function is_finite(x)
  return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge
end

local function is_integer(x)
  return is_finite(x) and x == floor(x)
end

local function show(v)
  if type(v) == "string" then return string.format("'%s'", v) end
  return tostring(v)
end

local function round(x)
  return floor(x + 0.5)
end

local function clamp(x, lo, hi)
  if x < lo then return lo end
  if x > hi then return hi end
  return x
end

---------------------------------------------------------------------------
-- Building and checking parameters
---------------------------------------------------------------------------

-- A parameter in constructor form, as made by maggy.double() and friends.
function M.param(ptype, fields)
  fields.type = ptype
  return fields
end

local function check_bounds(p)
  local lo, hi = p.low, p.high
  if not is_finite(lo) or not is_finite(hi) then
    return nil, string.format("bounds must be finite numbers, got %s and %s", show(lo), show(hi))
  end
  if p.type == "INTEGER" and (not is_integer(lo) or not is_integer(hi)) then
    return nil, string.format("INTEGER bounds must be integers, got %s and %s", show(lo), show(hi))
  end
  if not (lo < hi) then
    return nil, string.format("lower bound %s is not below upper bound %s", show(lo), show(hi))
  end
  if not is_finite(hi - lo) then
    return nil, string.format("bounds %s and %s are too far apart (their difference overflows)", show(lo), show(hi))
  end
  if p.log and lo <= 0 then
    return nil, string.format("log scale needs a lower bound above 0, got %s", show(lo))
  end
  return true
end

local function check_value(ptype, v)
  if ptype == "DISCRETE" then
    if not is_finite(v) then
      return nil, string.format("DISCRETE values must be finite numbers, got %s %s", type(v), show(v))
    end
  elseif type(v) == "number" then
    if not is_finite(v) then return nil, "CATEGORICAL values must be finite numbers" end
  elseif type(v) ~= "string" and type(v) ~= "boolean" then
    return nil, string.format("CATEGORICAL values must be strings, numbers or booleans, got %s", type(v))
  end
  return true
end

local function check_values(p)
  if type(p.values) ~= "table" then
    return nil, "expected a list of values, got " .. type(p.values)
  end
  if #p.values == 0 then return nil, "value list is empty" end
  local n = 0
  for k in pairs(p.values) do
    if type(k) ~= "number" or k < 1 or k ~= math.floor(k) then
      return nil, "expected a list of values, got a table with the key " .. show(k)
    end
    n = math.max(n, k)
  end
  for i = 1, n do
    if p.values[i] == nil then return nil, string.format("value list has a hole at %d", i) end
  end
  local seen = {}
  for _, v in ipairs(p.values) do
    local ok, err = check_value(p.type, v)
    if not ok then return nil, err end
    if seen[v] then return nil, "duplicate value " .. show(v) end
    seen[v] = true
  end
  return true
end

-- Copies a parameter given in constructor form, normalizing its fields.
local function from_fields(spec)
  local ptype = type(spec.type) == "string" and spec.type:upper() or spec.type
  if not IS_TYPE[ptype] then
    return nil, string.format("unknown type %s (valid: %s)", show(spec.type), table.concat(TYPES, ", "))
  end
  local p = { type = ptype }
  if ptype == "DOUBLE" or ptype == "INTEGER" then
    p.low, p.high, p.log = spec.low, spec.high, spec.log and true or false
    local ok, err = check_bounds(p)
    if not ok then return nil, err end
  else
    local ok, err = check_values(spec)
    if not ok then return nil, err end
    p.values = {}
    for i, v in ipairs(spec.values) do p.values[i] = v end
    if ptype == "DISCRETE" then table.sort(p.values) end
  end
  return p
end

-- Maggy's tuple form: {"INTEGER", {2, 8}} or {"DOUBLE", {1e-5, 1}, {log = true}}.
local function from_tuple(spec)
  local ptype, list, opts = spec[1], spec[2], spec[3] or {}
  if type(list) ~= "table" then
    return nil, string.format("expected {%s, {...}}, the second element is %s", show(ptype), type(list))
  end
  if type(opts) ~= "table" then
    return nil, "the third element must be an options table like {log = true}"
  end
  local upper = ptype:upper()
  if upper == "DOUBLE" or upper == "INTEGER" then
    if #list ~= 2 then
      return nil, string.format("%s expects {low, high}, got %d values", upper, #list)
    end
    return from_fields({ type = upper, low = list[1], high = list[2], log = opts.log })
  end
  return from_fields({ type = ptype, values = list })
end

local function normalize(spec)
  if type(spec) ~= "table" then
    return nil, "expected maggy.double(...) and friends or a tuple like {\"DOUBLE\", {low, high}}, got " .. type(spec)
  end
  if type(spec[1]) == "string" then return from_tuple(spec) end
  if spec.type ~= nil then return from_fields(spec) end
  return nil, "expected maggy.double(...) and friends or a tuple like {\"DOUBLE\", {low, high}}"
end

local function check_name(name)
  if type(name) ~= "string" then
    return nil, string.format("searchspace: parameter names must be strings, got %s %s", type(name), show(name))
  end
  if not name:match("^[%a_][%w_]*$") then
    return nil, string.format("searchspace: parameter '%s': the name must be a Python identifier (letters, digits, _)", name)
  end
  if RESERVED[name] then
    return nil, string.format("searchspace: parameter '%s': the name is reserved for the training function", name)
  end
  return true
end

-- Builds a space from {name = spec, ...}; returns the space or nil, err.
function M.new(specs)
  if getmetatable(specs) == objects then return specs end
  if type(specs) ~= "table" then
    return nil, "searchspace: expected a table of parameters, got " .. type(specs)
  end
  local space = setmetatable({ _params = {}, _names = {} }, objects)
  for name, spec in pairs(specs) do
    local ok, err = check_name(name)
    if not ok then return nil, err end
    local p, perr = normalize(spec)
    if not p then
      return nil, string.format("searchspace: parameter '%s': %s", name, perr)
    end
    p.name = name
    space._params[name] = p
    space._names[#space._names + 1] = name
  end
  if #space._names == 0 then
    return nil, "searchspace: the space is empty (add at least one parameter)"
  end
  table.sort(space._names)
  space._key_prefixes = {} -- "name=" pieces of Space:key, commas included
  for i, name in ipairs(space._names) do
    space._key_prefixes[i] = (i > 1 and "," or "") .. name .. "="
  end
  return space
end

function M.is_space(x)
  return getmetatable(x) == objects
end

---------------------------------------------------------------------------
-- Reading a space
---------------------------------------------------------------------------

function Space:names()
  local out = {}
  for i, name in ipairs(self._names) do out[i] = name end
  return out
end

-- The parameter record {name, type, low, high, log, values}; treat it as read-only.
function Space:param(name)
  return self._params[name]
end

function Space:size()
  return #self._names
end

-- A JSON-able list of the parameters, in name order.
function Space:describe()
  local out = {}
  for i, name in ipairs(self._names) do
    local p = self._params[name]
    local d = { name = name, type = p.type }
    if p.values then
      d.values = {}
      for j, v in ipairs(p.values) do d.values[j] = v end
    else
      d.low, d.high, d.log = p.low, p.high, p.log
    end
    out[i] = d
  end
  return out
end

local function key_value(v)
  if type(v) == "number" then return string.format("%.17g", v) end
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

-- A canonical string for a params table, equal for equal params:
-- "name=value,name=value" in the order of the space's names.
local key_parts = {} -- reused by every call: "name=" and value, in turn
function Space:key(params)
  local names, prefixes = self._names, self._key_prefixes
  for i = 1, #names do
    key_parts[2 * i - 1] = prefixes[i]
    key_parts[2 * i] = key_value(params[names[i]])
  end
  return table.concat(key_parts, "", 1, 2 * #names)
end

---------------------------------------------------------------------------
-- Validation
---------------------------------------------------------------------------

local function index_of(list, v)
  for i, x in ipairs(list) do
    if x == v then return i end
  end
  return nil
end

local function validate_one(p, v)
  if p.values then
    if index_of(p.values, v) then return true end
    return nil, string.format("%s is not one of the listed values", show(v))
  end
  if not is_finite(v) then
    return nil, string.format("expected a finite number, got %s %s", type(v), show(v))
  end
  if p.type == "INTEGER" and not is_integer(v) then
    return nil, string.format("expected an integer, got %s", show(v))
  end
  if v < p.low or v > p.high then
    return nil, string.format("%s is outside [%s, %s]", show(v), show(p.low), show(p.high))
  end
  return true
end

-- true, or nil and a message naming the first bad parameter.
function Space:validate(params)
  if type(params) ~= "table" then
    return nil, "params must be a table, got " .. type(params)
  end
  for _, name in ipairs(self._names) do
    if params[name] == nil then
      return nil, string.format("parameter '%s' is missing", name)
    end
    local ok, err = validate_one(self._params[name], params[name])
    if not ok then return nil, string.format("parameter '%s': %s", name, err) end
  end
  for name in pairs(params) do
    if self._params[name] == nil then
      return nil, string.format("unknown parameter %s", show(name))
    end
  end
  return true
end

---------------------------------------------------------------------------
-- Sampling
---------------------------------------------------------------------------

-- Integers on a log scale are drawn from [low - 0.5, high + 0.5] so that after
-- rounding the end points get their full share.
local function sample_one(p, rng)
  if p.values then return rng:choice(p.values) end
  if p.type == "DOUBLE" then
    if not p.log then return rng:uniform(p.low, p.high) end
    return clamp(exp(rng:uniform(log(p.low), log(p.high))), p.low, p.high)
  end
  if not p.log then return rng:randint(p.low, p.high) end
  local x = exp(rng:uniform(log(p.low - 0.5), log(p.high + 0.5)))
  return clamp(round(x), p.low, p.high)
end

-- Draws one params table; parameters are drawn in name order.
function Space:sample(rng)
  if type(rng) ~= "table" or type(rng.uniform) ~= "function" then
    error("space:sample: expected a random generator (ctx.rng), got " .. describe(rng), 2)
  end
  local params = {}
  for _, name in ipairs(self._names) do
    params[name] = sample_one(self._params[name], rng)
  end
  return params
end

---------------------------------------------------------------------------
-- The unit cube, for model-based optimizers
---------------------------------------------------------------------------

-- The continuous interval a numeric parameter lives on, in its own scale.
-- Integers own [i - 0.5, i + 0.5] so that every integer gets an equal share.
local function span(p)
  local lo, hi = p.low, p.high
  if p.type == "INTEGER" then lo, hi = lo - 0.5, hi + 0.5 end
  if p.log then return log(lo), log(hi) end
  return lo, hi
end

-- nil for a value that is not one of the parameter's, or not a number
local function to_unit_one(p, v)
  if p.values then
    local i = index_of(p.values, v)
    return i and (i - 0.5) / #p.values
  end
  if type(v) ~= "number" then return nil end
  local lo, hi = span(p)
  local x = p.log and log(v) or v
  return (x - lo) / (hi - lo)
end

local function from_unit_one(p, u)
  u = clamp(u, 0, 1)
  if p.values then
    local n = #p.values
    return p.values[clamp(floor(u * n) + 1, 1, n)]
  end
  if p.type == "DOUBLE" and (u == 0 or u == 1) then
    return u == 0 and p.low or p.high -- exact, where exp(log(x)) may not be
  end
  local lo, hi = span(p)
  local x = lo + u * (hi - lo)
  if p.log then x = exp(x) end
  if p.type == "INTEGER" then x = round(x) end
  return clamp(x, p.low, p.high)
end

-- params -> list of numbers in [0, 1], in name order.
function Space:to_unit(params)
  if type(params) ~= "table" then
    error("space:to_unit: expected a params table, got " .. describe(params), 2)
  end
  local u = {}
  for i, name in ipairs(self._names) do
    local p, v = self._params[name], params[name]
    local x = v ~= nil and to_unit_one(p, v)
    if not x then
      error(string.format("space:to_unit: parameter '%s' %s", name,
        v == nil and "is missing" or "= " .. describe(v) .. " is not in the space"), 2)
    end
    u[i] = x
  end
  return u
end

-- list of numbers in [0, 1] (name order) -> params; values outside are clamped.
function Space:from_unit(u)
  if type(u) ~= "table" then
    error("space:from_unit: expected a list of numbers in [0, 1], got " .. describe(u), 2)
  end
  local params = {}
  for i, name in ipairs(self._names) do
    local x = u[i]
    if type(x) ~= "number" then
      error(string.format("space:from_unit: expected %d numbers, one per parameter in name order "
        .. "(%s), got %s at %d", #self._names, table.concat(self._names, ", "), describe(x), i), 2)
    end
    params[name] = from_unit_one(self._params[name], x)
  end
  return params
end

---------------------------------------------------------------------------
-- Grids
---------------------------------------------------------------------------

-- `points` values evenly spaced over [lo, hi] (log-spaced when log), end points exact.
local function spaced(lo, hi, points, logscale)
  if points == 1 then
    return { logscale and exp((log(lo) + log(hi)) / 2) or (lo + hi) / 2 }
  end
  local a, b = lo, hi
  if logscale then a, b = log(lo), log(hi) end
  local out = {}
  for i = 0, points - 1 do
    local x = a + (b - a) * i / (points - 1)
    out[i + 1] = logscale and exp(x) or x
  end
  out[1], out[points] = lo, hi
  return out
end

local function integer_axis(p, points)
  local out = {}
  if p.high - p.low + 1 <= points then
    for v = p.low, p.high do out[#out + 1] = v end
    return out
  end
  for _, x in ipairs(spaced(p.low, p.high, points, p.log)) do
    local v = clamp(round(x), p.low, p.high)
    if v ~= out[#out] then out[#out + 1] = v end
  end
  return out
end

local function axis(p, points)
  if p.values then return p.values end
  if p.type == "INTEGER" then return integer_axis(p, points) end
  return spaced(p.low, p.high, points, p.log)
end

-- The values each parameter takes on the grid, in name order.
function Space:grid_axes(points)
  if not is_integer(points) or points < 1 then
    error("searchspace: grid points must be a positive integer, got " .. show(points), 2)
  end
  local axes = {}
  for i, name in ipairs(self._names) do
    axes[i] = axis(self._params[name], points)
  end
  return axes
end

function Space:grid_size(points)
  local n = 1
  for _, values in ipairs(self:grid_axes(points)) do n = n * #values end
  return n
end

-- An iterator over every grid point: the first name (in sorted order) varies
-- slowest, the last fastest, like nested for loops.
function Space:grid(points)
  local axes, names = self:grid_axes(points), self._names
  local idx = {}
  for i = 1, #axes do idx[i] = 1 end
  local done = false
  return function()
    if done then return nil end
    local params = {}
    for i, name in ipairs(names) do params[name] = axes[i][idx[i]] end
    local i = #axes
    while i >= 1 and idx[i] == #axes[i] do
      idx[i] = 1
      i = i - 1
    end
    if i == 0 then done = true else idx[i] = idx[i] + 1 end
    return params
  end
end

M.TYPES = TYPES

return M
