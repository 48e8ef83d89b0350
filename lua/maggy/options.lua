-- The options tables of the library's constructors: a misspelled option is
-- an error that names the valid ones, never a default used in silence.

local M = {}

-- nil, or "unknown option 'x' (valid: a, b)" for the first key of `opts`
-- (in sorted order) that is not in `known`.
function M.unknown(opts, known)
  local is_known, bad = {}, {}
  for _, name in ipairs(known) do is_known[name] = true end
  for key in pairs(opts) do
    if not is_known[key] then bad[#bad + 1] = tostring(key) end
  end
  if #bad == 0 then return nil end
  table.sort(bad)
  if #known == 0 then return string.format("unknown option '%s' (it takes none)", bad[1]) end
  return string.format("unknown option '%s' (valid: %s)", bad[1], table.concat(known, ", "))
end

return M
