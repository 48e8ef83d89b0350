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

local describe = require "maggy.describe"
local searchspace = require "maggy.searchspace"
local stats = require "maggy.stats"
local json = require "maggy.json"
local path = require "maggy.path"

local M = {}

local Study = {}
local objects = { __index = Study } -- their metatable: not Study itself (sandbox.lua)

M.KINDS = { "features", "layers", "components" }
M.ABLATORS = { loco = "maggy.ablators.loco", path = "maggy.ablators.path" }

local FIELDS = {
  base = true, target = true, space = true, features = true, feature_groups = true, layers = true,
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
    if not is_name(name) then return nil, string.format("%s[%d] must be a non-empty string, got %s", what, i, describe(name)) end
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
    if not is_name(name) then return nil, string.format("%s: group names must be strings, got %s", what, describe(name)) end
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

-- A space holding just the values of the configurations given, for a
-- study given without one.
local function space_of(configs)
  local values = {}
  for _, c in ipairs(configs) do
    for k, v in pairs(c) do
      values[k] = values[k] or {}
      local known = false
      for _, x in ipairs(values[k]) do known = known or x == v end
      if not known then table.insert(values[k], v) end
    end
  end
  local specs = {}
  for k, list in pairs(values) do specs[k] = { type = "CATEGORICAL", values = list } end
  return searchspace.new(specs)
end

-- The folder relative run directories are found from (the script's).
local script_dir = "."

function M.set_script_dir(dir)
  script_dir = dir or "."
end

-- The params of the best trial of the experiment in run directory `dir`
-- (its summary.json), or nil and why. Only the space's parameters: not a
-- budget, nor an earlier ablation's ablate and seed.
local function best_of(dir, field)
  local file = path.join(script_dir, path.join(dir, "summary.json"))
  local f = io.open(file, "r")
  if not f then
    return nil, string.format("ablation: %s: no summary.json in '%s' (a finished experiment's directory)", field, dir)
  end
  local text = f:read("*a")
  f:close()
  local ok, summary = pcall(json.decode, text)
  local best = ok and type(summary) == "table" and json.opt(summary.best)
  if type(best) ~= "table" or type(best.params) ~= "table" then
    return nil, string.format("ablation: %s: the experiment in '%s' has no best trial", field, dir)
  end
  local params = {}
  for k, v in pairs(best.params) do
    if k ~= "budget" and k ~= "ablate" and k ~= "seed" then params[k] = v end
  end
  return params
end

-- A configuration: a table of hyperparameters, or nil and why. A string is
-- a run directory whose best trial gives them.
local function checked_config(c, field)
  if type(c) == "string" then
    local params, err = best_of(c, field)
    if not params then return nil, err end
    c = params
  end
  if type(c) ~= "table" then
    return nil, string.format("ablation: %s must be a table of hyperparameters (name = value), got %s", field, type(c))
  end
  for k, v in pairs(c) do
    if not is_name(k) then return nil, string.format("ablation: %s keys must be parameter names, got %s", field, describe(k)) end
    local tv = type(v)
    if tv ~= "number" and tv ~= "string" and tv ~= "boolean" then
      return nil, string.format("ablation: %s.%s must be a number, string or boolean, got %s", field, k, tv)
    end
  end
  return c
end

-- The base (and target, for a path) and the space they lie in.
local function checked_configs(t)
  local base, err = checked_config(t.base, "base")
  if not base then return nil, err end
  if next(base) == nil then
    return nil, "ablation: base is empty: give at least one hyperparameter the training function "
      .. "takes, fixed (base = { epochs = 10 }): every trial of the study gets it"
  end
  local configs = { base }
  if t.target ~= nil then
    local target, terr = checked_config(t.target, "target")
    if not target then return nil, terr end
    for k in pairs(base) do
      if target[k] == nil then return nil, string.format("ablation: target has no value for '%s'", k) end
    end
    for k in pairs(target) do
      if base[k] == nil then return nil, string.format("ablation: base has no value for '%s'", k) end
    end
    configs[2] = target
  end
  local space = t.space
  if space == nil then
    space, err = space_of(configs)
  elseif not searchspace.is_space(space) then
    space, err = searchspace.new(space)
  end
  if not space then return nil, "ablation: " .. err end
  for i, c in ipairs(configs) do
    local ok, verr = space:validate(c)
    if not ok then
      return nil, string.format("ablation: the %s configuration is not in the space: %s", i == 1 and "base" or "target", verr)
    end
  end
  return configs, space
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
  local configs, space = checked_configs(t)
  if not configs then return nil, space end
  local s = setmetatable({ base = {}, space = space, items = {} }, objects)
  for k, v in pairs(configs[1]) do s.base[k] = v end
  if configs[2] then
    s.target = {}
    for k, v in pairs(configs[2]) do s.target[k] = v end
  end
  s.base_from = type(t.base) == "string" and t.base or nil
  s.target_from = type(t.target) == "string" and t.target or nil
  local repeats = t.repeats or 1
  if type(repeats) ~= "number" or repeats < 1 or repeats ~= math.floor(repeats) or repeats > 1000 then
    return nil, "ablation: repeats must be an integer from 1 to 1000, got " .. describe(t.repeats)
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
  local by_what = {}
  for _, item in ipairs(s.items) do
    local what = M.signature(s:ablate(item))
    local first = by_what[what]
    if first then
      return nil, string.format("ablation: %s leaves out the same as %s (%s): one trial would "
        .. "stand for both; give each set once", M.label(item), M.label(first),
        table.concat(item.members, ", "))
    end
    by_what[what] = item
  end
  local ablator = t.ablator or (s.target and "path" or "loco")
  if ablator == "path" then
    if not s.target then return nil, "ablation: the path ablator needs a target configuration (target = {...})" end
    if #s.items > 0 then return nil, "ablation: the path ablator changes hyperparameters; it takes no features, layers or components" end
    if #s:changed() == 0 then return nil, "ablation: base and target are the same configuration: no path to walk" end
  elseif #s.items == 0 then
    return nil, "ablation: nothing to leave out: give features, feature_groups, layers, layer_groups or components"
  end
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

-- The hyperparameters whose values differ between base and target, sorted.
function Study:changed()
  local out = {}
  for k, v in pairs(self.target or {}) do
    if self.base[k] ~= v then out[#out + 1] = k end
  end
  table.sort(out)
  return out
end

-- The study of the experiment an ablator runs in (ctx.ablation), or an
-- error naming the ablator; with need_target, a study with a target.
function M.study_of(ctx, who, need_target)
  local study = ctx.ablation
  if not study or (need_target and not study.target) then
    error(string.format("ablators.%s: this experiment has no ablation study%s", who,
      need_target and " with a target (maggy.ablation{base = ..., target = ...})" or " (maggy.ablation{...})"), 0)
  end
  return study
end

function M.is_study(x)
  return getmetatable(x) == objects
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

-- study -> the set of its items (built on first use, once they are all in)
local item_sets = setmetatable({}, { __mode = "k" })

-- items_of(x), or an error blaming the caller of the study's method that
-- took x when something in it is not an item of the study.
local function checked_items(study, x)
  local set = item_sets[study]
  if not set then
    set = {}
    for _, item in ipairs(study.items) do set[item] = true end
    item_sets[study] = set
  end
  local items = type(x) == "table" and items_of(x) or nil
  for i, item in ipairs(items or {}) do
    if not set[item] then
      error(string.format("ablation: item %d is %s, not one of study.items (pass those, or lists "
        .. "of them; nil for the base)", i, describe(item)), 3)
    end
  end
  if x ~= nil and not items then
    error("ablation: expected an item of study.items, a list of them or nil, got " .. type(x), 3)
  end
  return items or {}
end

-- What an item (or a list of items) leaves out, as the `ablate` argument;
-- nil: the base.
function Study:ablate(items)
  local out = { features = {}, layers = {}, components = {} }
  for _, item in ipairs(checked_items(self, items)) do
    for _, m in ipairs(item.members) do table.insert(out[item.kind], m) end
  end
  return out
end

-- The params of the trial that leaves out an item, or a list of items (nil:
-- the base), with `seed` when the study repeats its trials.
function Study:params(items, seed)
  checked_items(self, items)
  local p = {}
  for k, v in pairs(self.base) do p[k] = v end
  p.ablate = self:ablate(items)
  if self.repeats > 1 then p.seed = seed end
  return p
end

local function ablator_name(study)
  return type(study.ablator) == "string" and study.ablator or (study.ablator.name or "custom")
end

-- What `check` shows of a study: its ablator, repeats and the label of
-- each item.
function M.describe(study)
  local labels = {}
  for i, item in ipairs(study.items) do labels[i] = M.label(item) end
  return { ablator = ablator_name(study), repeats = study.repeats, items = labels }
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

local IS_KIND = { features = true, layers = true, components = true }

-- Whether v has the shape of an `ablate` argument: lists of names by kind.
function M.is_ablate(v)
  if type(v) ~= "table" then return false end
  for kind, names in pairs(v) do
    if not IS_KIND[kind] or type(names) ~= "table" then return false end
    for _, n in pairs(names) do
      if type(n) ~= "string" then return false end
    end
  end
  return true
end

-- "features 'a'" when an `ablate` argument names a thing twice, else nil.
function M.named_twice(ablate)
  for _, kind in ipairs(M.KINDS) do
    local seen = {}
    for _, n in ipairs(ablate[kind] or {}) do
      if seen[n] then return string.format("%s '%s'", kind, n) end
      seen[n] = true
    end
  end
  return nil
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

-- The row of a configuration's trials, and their values by seed.
local function row_of(label, kind, trials)
  local values, by_seed, failed = {}, {}, 0
  for _, t in ipairs(trials) do
    if t.state == "FINISHED" and type(t.value) == "number" then
      values[#values + 1] = t.value
      if t.params.seed ~= nil then by_seed[t.params.seed] = t.value end
    elseif t:is_done() then
      failed = failed + 1
    end
  end
  local mean, sd = stats.mean_sd(values)
  return {
    component = label, kind = kind, n = #values, failed = failed,
    mean = mean, sd = sd, ci95 = stats.ci95(sd, #values),
  }, by_seed
end

-- The differences of a configuration's values to the base's of the same
-- seed, in the order of the seeds.
local function paired_differences(by_seed, base_by_seed)
  local seeds, out = {}, {}
  for seed in pairs(by_seed) do
    if base_by_seed[seed] ~= nil then seeds[#seeds + 1] = seed end
  end
  table.sort(seeds)
  for i, seed in ipairs(seeds) do out[i] = by_seed[seed] - base_by_seed[seed] end
  return out
end

-- The difference of a row's mean to the base's and its 95% interval.
-- Repeat r of every configuration has the same seed as repeat r of the
-- base, so what the seed does (the split of the data, the first weights)
-- cancels out of their difference: the interval is Student's on the paired
-- differences when every finished repeat of both has its pair, else
-- Welch's on the two means.
local function delta_of(row, by_seed, base, base_by_seed)
  local d = paired_differences(by_seed, base_by_seed)
  local ci95
  if #d >= 2 and #d == row.n and #d == base.n then
    local _, sd = stats.mean_sd(d)
    ci95 = stats.ci95(sd, #d)
  else
    ci95 = stats.welch_ci95(row.sd, row.n, base.sd, base.n)
  end
  return row.mean - base.mean, ci95
end

-- How much worse leaving the item out made the metric: positive is harm.
local function harm(row, direction)
  if row.delta == nil then return -math.huge end
  return direction == "min" and row.delta or -row.delta
end

-- The first number in v (a report or a part of it, at `where`) that JSON
-- cannot hold, as a message; nil when there is none.
local function non_finite(v, where)
  if type(v) == "number" and (v ~= v or v == math.huge or v == -math.huge) then
    return string.format("%s is %s: a report's numbers must be finite (leave the field out "
      .. "when there is none)", where, tostring(v))
  end
  if type(v) ~= "table" then return nil end
  for k, x in pairs(v) do
    local err = non_finite(x, type(k) == "number" and string.format("%s[%d]", where or "", k)
                                                   or (where and where .. "." or "") .. tostring(k))
    if err then return err end
  end
  return nil
end

-- nil when r has the shape of a report (a table of rows, as Study:report
-- makes, or a path, as the path ablator's) with finite numbers only, else
-- what is wrong, for an ablator's own report().
function M.check_report(r)
  if type(r) ~= "table" then return "returned " .. describe(r) .. ", not a table" end
  local list, what = r.rows, "rows"
  if r.path ~= nil then list, what = r.path, "path" end
  if type(list) ~= "table" then
    return "returned a table without rows (a list of rows, as study:report(ctx) gives them)"
  end
  for i, row in ipairs(list) do
    if type(row) ~= "table" then return string.format("%s[%d] is %s, not a table", what, i, describe(row)) end
    if what == "rows" and (type(row.component) ~= "string" or type(row.n) ~= "number") then
      return string.format("rows[%d] needs component (a string) and n (a number), got %s and %s",
        i, describe(row.component), describe(row.n))
    end
  end
  return non_finite(r, nil)
end

-- The report from the trials in ctx: the base, then one row per
-- configuration, a list of items or lists of items (default: each item).
function Study:report(ctx, configurations)
  for _, items in ipairs(configurations or {}) do checked_items(self, items) end
  local by_sig = {}
  for _, t in ipairs(ctx:trials()) do
    local sig = M.signature(t.params.ablate)
    if sig then
      by_sig[sig] = by_sig[sig] or {}
      table.insert(by_sig[sig], t)
    end
  end
  local base, base_by_seed = row_of("base", "base", by_sig[M.signature(self:ablate(nil))] or {})
  local rows = {}
  for _, items in ipairs(configurations or self.items) do
    local list = items_of(items)
    local row, by_seed = row_of(M.label(list), #list == 1 and list[1].kind or "several",
                                by_sig[M.signature(self:ablate(list))] or {})
    row.left_out = self:ablate(list)
    if row.mean and base.mean then
      row.delta, row.delta_ci95 = delta_of(row, by_seed, base, base_by_seed)
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
  local rank, last -- equal harm, equal rank ("1, 2, 2, 4")
  for position, i in ipairs(order) do
    if rows[i].delta ~= nil then
      local h = harm(rows[i], ctx.direction)
      if h ~= last then rank, last = position, h end
      rows[i].rank = rank
    end
  end
  return { ablator = ablator_name(self), metric = ctx.metric, direction = ctx.direction, repeats = self.repeats,
           base = base, rows = rows }
end

return M
