local describe_value = require "maggy.describe"

describe("maggy.describe", function()
  it("shows a value with its type, so that '2' never reads as 2", function()
    assert.are.equal("string '2'", describe_value("2"))
    assert.are.equal("number 2", describe_value(2))
    assert.are.equal("boolean true", describe_value(true))
    assert.are.equal("nil", describe_value(nil))
    assert.are.equal("table", describe_value({}))
  end)
end)
