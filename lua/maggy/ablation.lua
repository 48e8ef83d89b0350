-- An ablation study: a base configuration and the components that can be
-- left out of it, made by `maggy.ablation{...}` in place of a search space
-- and an optimizer:
--
--   ablation = maggy.ablation {
--     base = { lr = 0.01, epochs = 5 },            -- fixed hyperparameters
--     features = { "age", "income" },              -- input columns
--     feature_groups = { vitals = { "pulse", "pressure" } },
--     layers = { "conv1", "conv2", "fc1", "fc2" },
--     layer_groups = { dense = { prefix = "fc" }, convs = { "conv1", "conv2" } },
--     components = { "augmentation" },             -- any switch the function knows
--     repeats = 5,                                 -- seeds per configuration
--     ablator = "loco",                            -- or a table (optimizer contract)
--   }
--
-- Each trial reaches the training function as keyword arguments: the base
-- hyperparameters, `ablate = {features = {...}, layers = {...}, components =
-- {...}}` (what to leave out, lists of names) and, with repeats > 1, `seed`.
-- Ablators are optimizers: they see the study as ctx.ablation, build trial
-- params with study:params(item, seed), and the report groups the trials
-- by what they left out (study:report(ctx)).

local searchspace = require "maggy.searchspace"
local stats = require "maggy.stats"

local M = {}

local Study = {}
Study.__index = Study

M.KINDS = { "features", "layers", "components" }
M.ABLATORS = { loco = "maggy.ablators.loco" }

local FIELDS = {
  base = true, space = true, features = true, feature_groups = true, layers = true,
  layer_groups = true, components = true, repeats = true, ablator = true,
}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local function is_name(v)
  return type(v) == "string" and v ~= ""
end

-- A list of distinct names, or nil and why.
local function name_list(v, what)
  if type(v) ~= "table" then return nil, string.format("%s must be a list of names, got %s", what, type(v)) end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  if n ~= #v then return nil, what .. " must be a list of names (no other keys, no holes)" end
  local seen, out = {}, {}
  for i, name in ipairs(v) do
    if not is_name(name) then return nil, string.format("%s[%d] must be a non-empty string, got %s", what, i, tostring(name)) end
    if seen[name] then return nil, string.format("%s names '%s' twice", what, name) end
    seen[name], out[i] = true, name
  end
  return out
end

-- Groups {name = {members...} | {prefix = "p"}}: a list of {name, members},
-- in name order. Prefixes select from `known` (the single names given).
local function groups(v, what, known)
  if v == nil then return {} end
  if type(v) ~= "table" then return nil, string.format("%s must be a table of named groups, got %s", what, type(v)) end
  local out = {}
  for _, name in ipairs(sorted_keys(v)) do
    local spec, members, err = v[name], nil, nil
    if not is_name(name) then return nil, string.format("%s: group names must be strings, got %s", what, tostring(name)) end
    if type(spec) == "table" and spec.prefix ~= nil then
      if not is_name(spec.prefix) then return nil, string.format("%s.%s: prefix must be a non-empty string", what, name) end
      members = {}
      for _, k in ipairs(known or {}) do
        if k:sub(1, #spec.prefix) == spec.prefix then members[#members + 1] = k end
      end
      if #members == 0 then
        return nil, string.format("%s.%s: no name starts with '%s'", what, name, spec.prefix)
      end
    else
      members, err = name_list(spec, what .. "." .. name)
      if not members then return nil, err end
      if #members == 0 then return nil, string.format("%s.%s is empty", what, name) end
    end
    out[#out + 1] = { name = name, members = members }
  end
  return out
end

-- A space holding just the base's values, for a study given without one.
local function space_of_base(base)
  local specs = {}
  for k, v in pairs(base) do specs[k] = { type = "CATEGORICAL", values = { v } } end
  return searchspace.new(specs)
end

local function checked_base(t)
  if type(t.base) ~= "table" then
    return nil, "ablation: base must be a table of hyperparameters (name = value), got " .. type(t.base)
  end
  for k, v in pairs(t.base) do
    if not is_name(k) then return nil, "ablation: base keys must be parameter names, got " .. tostring(k) end
    local tv = type(v)
    if tv ~= "number" and tv ~= "string" and tv ~= "boolean" then
      return nil, string.format("ablation: base.%s must be a number, string or boolean, got %s", k, tv)
    end
  end
  local space, err = t.space, nil
  if space == nil then
    space, err = space_of_base(t.base)
  elseif not searchspace.is_space(space) then
    space, err = searchspace.new(space)
  end
  if not space then return nil, "ablation: " .. err end
  local ok, verr = space:validate(t.base)
  if not ok then return nil, "ablation: the base configuration is not in the space: " .. verr end
  return t.base, space
end

-- Checks the fields; returns the study, or nil and a message.
function M.new(t)
  if type(t) ~= "table" then return nil, "ablation: expected a table of fields, got " .. type(t) end
  for _, k in ipairs(sorted_keys(t)) do
    if not FIELDS[k] then
      return nil, string.format("ablation: unknown field '%s' (valid: %s)", tostring(k),
        table.concat(sorted_keys(FIELDS), ", "))
    end
  end
  local base, space = checked_base(t)
  if not base then return nil, space end
  local s = setmetatable({ base = {}, space = space, items = {} }, Study)
  for k, v in pairs(base) do s.base[k] = v end
  local repeats = t.repeats or 1
  if type(repeats) ~= "number" or repeats < 1 or repeats ~= math.floor(repeats) or repeats > 1000 then
    return nil, "ablation: repeats must be an integer from 1 to 1000, got " .. tostring(t.repeats)
  end
  s.repeats = repeats
  for _, kind in ipairs(M.KINDS) do
    local singles, err = name_list(t[kind] or {}, "ablation: " .. kind)
    if not singles then return nil, err end
    for _, name in ipairs(singles) do
      s.items[#s.items + 1] = { kind = kind, name = name, members = { name } }
    end
    local group_field = kind == "features" and "feature_groups" or kind == "layers" and "layer_groups" or nil
    if group_field then
      local gs, gerr = groups(t[group_field], "ablation: " .. group_field, singles)
      if not gs then return nil, gerr end
      for _, g in ipairs(gs) do
        s.items[#s.items + 1] = { kind = kind, name = g.name, members = g.members, group = true }
      end
    end
  end
  if #s.items == 0 then
    return nil, "ablation: nothing to leave out: give features, feature_groups, layers, layer_groups or components"
  end
  local ablator = t.ablator or "loco"
  if type(ablator) == "string" then
    if not M.ABLATORS[ablator] then
      return nil, string.format("ablation: unknown ablator '%s' (built-in: %s)", ablator,
        table.concat(sorted_keys(M.ABLATORS), ", "))
    end
  elseif type(ablator) ~= "table" or type(ablator.suggest) ~= "function" then
    return nil, "ablation: ablator must be a built-in's name or a table with suggest(self, ctx)"
  end
  s.ablator = ablator
  return s
end

function M.is_study(x)
  return getmetatable(x) == Study
end

-- The ablator's optimizer instance.
function Study:optimizer()
  if type(self.ablator) == "string" then return require(M.ABLATORS[self.ablator]).new({}) end
  return self.ablator
end

-- A list of items: nil is none, one item is itself.
local function items_of(x)
  if x == nil then return {} end
  if x.kind then return { x } end
  return x
end

-- What an item (or a list of items) leaves out, as the `ablate` argument;
-- nil: the base.
function Study:ablate(items)
  local out = { features = {}, layers = {}, components = {} }
  for _, item in ipairs(items_of(items)) do
    for _, m in ipairs(item.members) do table.insert(out[item.kind], m) end
  end
  return out
end

-- The params of the trial that leaves out an item, or a list of items (nil:
-- the base), with `seed` when the study repeats its trials.
function Study:params(items, seed)
  local p = {}
  for k, v in pairs(self.base) do p[k] = v end
  p.ablate = self:ablate(items)
  if self.repeats > 1 then p.seed = seed end
  return p
end

-- A readable label of an item, or of a list of them: "feature age",
-- "layer group dense", "feature age + component aug"; "base" for none.
function M.label(items)
  local parts = {}
  for i, item in ipairs(items_of(items)) do
    local kind = ({ features = "feature", layers = "layer", components = "component" })[item.kind]
    parts[i] = (item.group and kind .. " group " or kind .. " ") .. item.name
  end
  return #parts == 0 and "base" or table.concat(parts, " + ")
end

-- The key of what a trial's `ablate` leaves out, the same for all repeats.
function M.signature(ablate)
  if type(ablate) ~= "table" then return nil end
  local parts = {}
  for _, kind in ipairs(M.KINDS) do
    local names = {}
    for i, n in ipairs(ablate[kind] or {}) do names[i] = tostring(n) end
    table.sort(names)
    parts[#parts + 1] = kind .. "=" .. table.concat(names, ",")
  end
  return table.concat(parts, ";")
end

---------------------------------------------------------------------------
-- The report: per item (and the base), its metric over the repeats, the
-- difference to the base with a 95% confidence interval, and its rank.
---------------------------------------------------------------------------

local function row_of(label, kind, trials)
  local values, failed = {}, 0
  for _, t in ipairs(trials) do
    if t.state == "FAILED" or type(t.value) ~= "number" then
      failed = failed + (t:is_done() and 1 or 0)
    else
      values[#values + 1] = t.value
    end
  end
  local mean, sd = stats.mean_sd(values)
  return {
    component = label, kind = kind, n = #values, failed = failed,
    mean = mean, sd = sd, ci95 = stats.ci95(sd, #values),
  }
end

-- How much worse leaving the item out made the metric: positive is harm.
local function harm(row, direction)
  if row.delta == nil then return -math.huge end
  return direction == "min" and row.delta or -row.delta
end

-- The report from the trials in ctx: the base, then one row per
-- configuration, a list of items or lists of items (default: each item).
function Study:report(ctx, configurations)
  local by_sig = {}
  for _, t in ipairs(ctx:trials()) do
    local sig = M.signature(t.params.ablate)
    if sig then
      by_sig[sig] = by_sig[sig] or {}
      table.insert(by_sig[sig], t)
    end
  end
  local base = row_of("base", "base", by_sig[M.signature(self:ablate(nil))] or {})
  local rows = {}
  for _, items in ipairs(configurations or self.items) do
    local list = items_of(items)
    local row = row_of(M.label(list), #list == 1 and list[1].kind or "several",
                       by_sig[M.signature(self:ablate(list))] or {})
    row.left_out = self:ablate(list)
    if row.mean and base.mean then
      row.delta = row.mean - base.mean
      row.delta_ci95 = stats.welch_ci95(row.sd, row.n, base.sd, base.n)
      if row.delta_ci95 then
        row.significant = math.abs(row.delta) > row.delta_ci95
      end
    end
    rows[#rows + 1] = row
  end
  local order = {}
  for i in ipairs(rows) do order[i] = i end
  table.sort(order, function(a, b)
    local ha, hb = harm(rows[a], ctx.direction), harm(rows[b], ctx.direction)
    if ha ~= hb then return ha > hb end
    return a < b
  end)
  for rank, i in ipairs(order) do
    if rows[i].delta ~= nil then rows[i].rank = rank end
  end
  return { ablator = type(self.ablator) == "string" and self.ablator or (self.ablator.name or "custom"),
           metric = ctx.metric, direction = ctx.direction, repeats = self.repeats,
           base = base, rows = rows }
end

return M
