import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { openDatabase } from "../db/database";
import { addEvent, defineWizard, saveRun, type WizardEvent } from "./engine";

/** The engine on its own: a toy wizard whose "slow" step would interleave without the per-run lock. */

const db = openDatabase(mkdtempSync(path.join(tmpdir(), "lifeboat-engine-")));
afterAll(() => db.close());

type State = { log: string[]; events: WizardEvent[] };
const Action = z.discriminatedUnion("action", [z.object({ action: z.literal("slow"), tag: z.string() }), z.object({ action: z.literal("finish") })]);
const ctx = { db };

const toy = defineWizard<typeof ctx, State, "one" | "two", z.infer<typeof Action>>({
  kind: "toy",
  parseState: (raw) => raw as State,
  parseAction: (raw) => Action.parse(raw),
  allowedOn: { slow: ["one"], finish: ["one", "two"] },
  handlers: {
    slow: async (c, run, a) => {
      // Read, wait (as an agent call would), write: a second action in between would be lost.
      const seen = run.state.log;
      await new Promise((r) => setTimeout(r, 30));
      return saveRun(c.db, run, { state: addEvent({ ...run.state, log: [...seen, a.tag] }, "slow", "ok", a.tag) });
    },
    finish: (c, run) => saveRun(c.db, run, { step: "two", status: "done", state: run.state }),
  },
  codes: { active: "conflict", closed: "wizard_state" },
  messages: { noun: "toy run", notFound: "No such toy run.", active: () => "A toy run is active.", unreadable: "Check the toys." },
});

describe("the wizard engine", () => {
  it("runs one action of a run at a time, keeps one active run per kind, and refuses closed runs and wrong steps", async () => {
    const run = toy.create(ctx, "one", { log: [], events: [] });
    expect(() => toy.create(ctx, "one", { log: [], events: [] })).toThrow(expect.objectContaining({ code: "conflict", details: { runId: run.id } }));
    await Promise.all(["a", "b", "c"].map((tag) => toy.act(ctx, run.id, { action: "slow", tag })));
    expect(toy.get(ctx, run.id).state.log).toEqual(["a", "b", "c"]);
    expect(toy.get(ctx, run.id).state.events.map((e) => e.message)).toEqual(["a", "b", "c"]);

    await expect(toy.act(ctx, run.id, { action: "nope" })).rejects.toBeInstanceOf(z.ZodError);
    await toy.act(ctx, run.id, { action: "finish" });
    await expect(toy.act(ctx, run.id, { action: "finish" })).rejects.toMatchObject({
      code: "wizard_state",
      message: "This toy run is finished; start a new one.",
    });
    expect(() => toy.get(ctx, "missing")).toThrow(expect.objectContaining({ code: "not_found", status: 404 }));
    expect(toy.active(ctx)).toBeUndefined();

    const next = toy.create(ctx, "one", { log: [], events: [] });
    await toy.act(ctx, next.id, { action: "finish" }); // moves to "two" and closes
    const reopened = saveRun(db, toy.get(ctx, next.id), { status: "active", state: toy.get(ctx, next.id).state });
    await expect(toy.act(ctx, reopened.id, { action: "slow", tag: "x" })).rejects.toMatchObject({ code: "wrong_step", status: 409 });
  });
});

describe("a saved run this version cannot read", () => {
  const State = z.object({ n: z.number(), events: z.array(z.object({ at: z.string(), action: z.string(), outcome: z.string(), message: z.string() })) });
  const strict = defineWizard<typeof ctx, z.infer<typeof State>, "one", { action: "finish" }>({
    kind: "strict-toy",
    parseState: (raw) => State.parse(raw),
    parseAction: (raw) => z.object({ action: z.literal("finish") }).parse(raw),
    allowedOn: { finish: ["one"] },
    handlers: { finish: (c, run) => saveRun(c.db, run, { status: "done", state: run.state }) },
    codes: { active: "conflict", closed: "wizard_state" },
    messages: { noun: "toy run", notFound: "No such toy run.", active: () => "A toy run is active.", unreadable: "Check the toys." },
  });

  for (const [what, text] of [
    ["a state another version wrote (a field missing)", JSON.stringify({ events: [] })],
    ["a state that is not JSON", "{not json"],
  ] as const)
    it(`${what}: closed as it is, audited, and a new run can start`, () => {
      const run = strict.create(ctx, "one", { n: 1, events: [] });
      db.prepare("UPDATE wizard_runs SET state = ? WHERE id = ?").run(text, run.id);
      // Every look at the wizard failed before, so no new run could ever start.
      expect(() => strict.get(ctx, run.id)).toThrow(expect.objectContaining({ code: "wizard_state", message: expect.stringContaining("cannot read") }));
      expect(strict.active(ctx)).toBeUndefined();
      const next = strict.create(ctx, "one", { n: 2, events: [] });
      expect(strict.active(ctx)?.id).toBe(next.id);
      // Closed, its saved state untouched; the audit log says so.
      const row = db.prepare("SELECT status, state FROM wizard_runs WHERE id = ?").get(run.id) as { status: string; state: string };
      expect(row).toEqual({ status: "abandoned", state: text });
      const entry = db.prepare("SELECT outcome FROM audit_log WHERE action = 'strict-toy.unreadable' AND target = ?").get(run.id) as { outcome: string };
      expect(entry?.outcome).toBe("closed");
      strict.abandon(ctx, next, next.state, "done with it");
    });
});
