import { describe, expect, it } from "vitest";
import { duplicateKey } from "./json-text";

describe("duplicateKey", () => {
  it("finds a key given twice in one object, at any depth", () => {
    expect(duplicateKey('{"role":"viewer","role":"admin"}')).toBe("role");
    expect(duplicateKey('{"a":{"b":1,"c":[{"d":1},{"e":2,"e":3}]}}')).toBe("e");
    expect(duplicateKey('{"a\\"b":1, "a\\"b" : 2}')).toBe('a"b');
    expect(duplicateKey('{"\\u0061":1,"a":2}')).toBe("a");
  });

  it("does not count the same key in different objects, values that look like keys, or strings with braces", () => {
    expect(duplicateKey('{"a":{"a":1},"b":[{"a":1},{"a":2}]}')).toBeNull();
    expect(duplicateKey('{"a":"a","b":"a"}')).toBeNull();
    expect(duplicateKey('{"a":"{\\"b\\":1,","b":"}],\\\\"}')).toBeNull();
    expect(duplicateKey('["a","a",{"x":1},{"x":1}]')).toBeNull();
    expect(duplicateKey('"a"')).toBeNull();
    expect(duplicateKey("{}")).toBeNull();
  });
});
