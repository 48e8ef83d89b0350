-- File path helpers for the runtime (POSIX paths, purely lexical except cwd()).

local ffi = require "ffi"

local M = {}

pcall(ffi.cdef, "char *getcwd(char *buf, size_t size);")

function M.is_absolute(p)
  return p:sub(1, 1) == "/"
end

function M.dirname(p)
  local dir = p:match("^(.*)/[^/]*$")
  if dir == nil then return "." end
  if dir == "" then return "/" end
  return dir
end

function M.join(dir, p)
  if M.is_absolute(p) then return p end
  return dir .. "/" .. p
end

-- Removes ".", empty segments and "name/.." pairs.
function M.normalize(p)
  local parts = {}
  for seg in p:gmatch("[^/]+") do
    if seg == ".." and #parts > 0 and parts[#parts] ~= ".." then
      parts[#parts] = nil
    elseif seg ~= "." and not (seg == ".." and M.is_absolute(p)) then
      parts[#parts + 1] = seg
    end
  end
  local out = table.concat(parts, "/")
  if M.is_absolute(p) then return "/" .. out end
  return out == "" and "." or out
end

function M.cwd()
  local buf = ffi.new("char[?]", 4096)
  if ffi.C.getcwd(buf, 4096) == nil then
    error("cannot read the current directory", 0)
  end
  return ffi.string(buf)
end

function M.absolute(p)
  if M.is_absolute(p) then return M.normalize(p) end
  return M.normalize(M.join(M.cwd(), p))
end

return M
