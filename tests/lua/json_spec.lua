local json = require "maggy.json"

describe("maggy.json", function()
  it("encodes numbers so that they read back exactly", function()
    for _, x in ipairs({ 0.1, 1 / 3, 1e-300, 123456789.123456789, 2 ^ 53, -7, 0.123456789012345678 }) do
      assert.are.equal(x, json.decode(json.encode({ x }))[1])
    end
    assert.are.equal("[0.1,3,-2.5e-07]", json.encode({ 0.1, 3, -2.5e-7 }))
  end)

  it("keeps floats floats when asked", function()
    assert.are.equal("[1.0,0.5,1e+300,2]", json.encode({ json.float(1), json.float(0.5), json.float(1e300), 2 }))
  end)

  it("encodes empty tables as arrays and sorts object keys", function()
    assert.are.equal('{"a":[],"b":{"c":true,"d":"x"}}', json.encode({ b = { d = "x", c = true }, a = {} }))
  end)

  it("escapes strings and writes null", function()
    assert.are.equal('["a\\"b\\n",null]', json.encode({ 'a"b\n', json.null }))
  end)

  it("refuses what JSON cannot hold", function()
    assert.has_error(function() json.encode({ 0 / 0 }) end)
    assert.has_error(function() json.encode({ math.huge }) end)
    assert.has_error(function() json.encode({ [1] = 1, x = 2 }) end)
    assert.has_error(function() json.encode({ f = print }) end)
  end)

  it("turns null into nil with opt", function()
    local v = json.decode('{"value": null}')
    assert.is_nil(json.opt(v.value))
    assert.are.equal(3, json.opt(3))
  end)
end)
