-- JSON for the engine bridge: lua-cjson decodes, this module encodes.
--
-- Why not cjson.encode: Debian's lua-cjson 2.1.0 caps number precision at 14
-- digits (a parameter 0.123456789012345678 would not survive the trip to the
-- executor) and has no way to encode an empty table as an array. Here numbers
-- use the shortest of %.15g/%.16g/%.17g that reads back exactly, object keys
-- are sorted (stable output), and an empty table is an empty array: every empty
-- value in the engine contract is a list. Strings are escaped by cjson.

local cjson = require("cjson").new()
local clear = require "table.clear" -- LuaJIT 2.1: empties a table, keeps its room

local M = {}

M.null = cjson.null

local MAX_DEPTH = 64

local function encode_number(x)
  if x ~= x or x == math.huge or x == -math.huge then
    error("json: cannot encode " .. tostring(x), 0)
  end
  if x == math.floor(x) and math.abs(x) < 2 ^ 53 then
    return string.format("%d", x)
  end
  local s = string.format("%.15g", x)
  if tonumber(s) == x then return s end
  s = string.format("%.16g", x)
  if tonumber(s) == x then return s end
  return string.format("%.17g", x)
end

-- A number that must read back as a float even when integral (a DOUBLE
-- parameter equal to 1 goes to Python as 1.0, not 1).
local Float = {}

function M.float(x)
  return setmetatable({ x }, Float)
end

local function encode_float(x)
  local s = encode_number(x)
  if not s:find("[.eE]") then s = s .. ".0" end
  return s
end

local function is_array(t)
  local n = #t
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local encode_value

local function encode_array(t, depth, out)
  out[#out + 1] = "["
  for i = 1, #t do
    if i > 1 then out[#out + 1] = "," end
    encode_value(t[i], depth, out)
  end
  out[#out + 1] = "]"
end

-- Scratch lists reused by every call (the engine calls encode for every
-- job; fresh tables were most of its garbage): the keys of the object being
-- encoded at each depth, and the pieces of the output.
local keys_at, pieces = {}, {}

local function encode_object(t, depth, out)
  local keys = keys_at[depth]
  if keys == nil then
    keys = {}
    keys_at[depth] = keys
  end
  local n = 0
  for k in pairs(t) do
    if type(k) ~= "string" then
      error("json: cannot encode a table mixing list and " .. type(k) .. " keys", 0)
    end
    n = n + 1
    keys[n] = k
  end
  for i = #keys, n + 1, -1 do keys[i] = nil end
  table.sort(keys)
  out[#out + 1] = "{"
  for i = 1, n do
    local k = keys[i]
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = cjson.encode(k)
    out[#out + 1] = ":"
    encode_value(t[k], depth, out)
  end
  out[#out + 1] = "}"
end

function encode_value(v, depth, out)
  local tv = type(v)
  if v == nil or v == cjson.null then
    out[#out + 1] = "null"
  elseif tv == "boolean" then
    out[#out + 1] = tostring(v)
  elseif tv == "number" then
    out[#out + 1] = encode_number(v)
  elseif tv == "string" then
    out[#out + 1] = cjson.encode(v)
  elseif getmetatable(v) == Float then
    out[#out + 1] = encode_float(v[1])
  elseif tv == "table" then
    if depth >= MAX_DEPTH then error("json: nesting deeper than " .. MAX_DEPTH, 0) end
    if is_array(v) then encode_array(v, depth + 1, out) else encode_object(v, depth + 1, out) end
  else
    error("json: cannot encode a " .. tv, 0)
  end
end

function M.encode(v)
  clear(pieces) -- what an error left behind
  encode_value(v, 0, pieces)
  local text = table.concat(pieces)
  clear(pieces)
  return text
end

function M.decode(s)
  return cjson.decode(s)
end

-- JSON null (cjson.null) as nil.
function M.opt(v)
  if v == cjson.null then return nil end
  return v
end

return M
