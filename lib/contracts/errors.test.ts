import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_STATUS, DomainError, hasErrorCode, isDomainError, toErrorAnswer } from "./errors";

describe("the error model", () => {
  it("docs/errors.md lists exactly the codes of ERROR_STATUS, each with its status", () => {
    const doc = readFileSync(path.resolve(import.meta.dirname, "../../docs/errors.md"), "utf8");
    const rows = [...doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])] as const);
    expect(Object.fromEntries(rows)).toEqual(ERROR_STATUS);
    expect(rows.length).toBe(Object.keys(ERROR_STATUS).length); // no code listed twice
  });

  it("a DomainError answers with its code's status and its details, recognised across module copies", () => {
    const err = new DomainError("job_running", "A backup is already running.", { details: { jobId: "j1" } });
    expect(toErrorAnswer(err, "x")).toEqual({ status: 409, body: { code: "job_running", message: "A backup is already running.", jobId: "j1" } });
    // What another bundle's copy of the class would look like: only the registered brand counts.
    const foreign = Object.assign(new Error("m"), { [Symbol.for("lifeboat.DomainError")]: true, code: "not_found" });
    expect(isDomainError(foreign)).toBe(true);
    expect(hasErrorCode(err, "not_found", "job_running")).toBe(true);
    expect(isDomainError(Object.assign(new Error("m"), { name: "DomainError", code: "not_found" }))).toBe(false);
    expect(toErrorAnswer(new Error("secret detail"), "Internal error.")).toEqual({ status: 500, body: { code: "internal", message: "Internal error." } });
  });
});
