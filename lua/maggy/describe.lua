-- describe(v): a value as error messages show it, with its type, so that
-- a string '2' never reads as the number 2:
--   describe("2") --> string '2'    describe(2) --> number 2
--   describe(nil) --> nil           describe({}) --> table
return function(v)
  local t = type(v)
  if t == "string" then return "string '" .. v .. "'" end
  if t == "number" or t == "boolean" then return t .. " " .. tostring(v) end
  return t
end
