import { describe, it, expect } from "vitest";
import { JobRegistry, JobRunningError } from "./job-registry";

describe("JobRegistry", () => {
  it("runs a job through its steps and records the result", async () => {
    const reg = new JobRegistry();
    const { id, done } = reg.start({
      type: "backup",
      group: "backup",
      steps: [
        { name: "a", label: "A" },
        { name: "b", label: "B" },
      ],
      run: async (job) => {
        job.step("a");
        job.progress(5, 10);
        job.step("b", "halfway");
        return { ok: 1 };
      },
    });
    expect(reg.get(id)?.state).toBe("running");
    const final = await done;
    expect(final.state).toBe("succeeded");
    expect(final.steps.map((s) => s.state)).toEqual(["done", "done"]);
    expect(final.result).toEqual({ ok: 1 });
    expect(final.bytesDone).toBe(5);
  });

  it("refuses a second job in the same group and names the running one", async () => {
    const reg = new JobRegistry();
    let release!: () => void;
    const first = reg.start({ type: "backup", group: "backup", steps: [], run: () => new Promise<void>((r) => (release = r)) });
    expect(() => reg.start({ type: "backup", group: "backup", steps: [], run: async () => {} })).toThrow(JobRunningError);
    try {
      reg.start({ type: "backup", group: "backup", steps: [], run: async () => {} });
    } catch (e) {
      expect((e as JobRunningError).jobId).toBe(first.id);
    }
    release();
    await first.done;
    expect(() => reg.start({ type: "backup", group: "backup", steps: [], run: async () => {} })).not.toThrow();
  });

  it("marks the running step failed and keeps the message", async () => {
    const reg = new JobRegistry();
    const { done } = reg.start({
      type: "restore",
      group: "datastore",
      steps: [{ name: "stage", label: "Stage" }],
      run: async (job) => {
        job.step("stage");
        throw new Error("wrong passphrase");
      },
    });
    const final = await done;
    expect(final.state).toBe("failed");
    expect(final.error).toBe("wrong passphrase");
    expect(final.steps[0].state).toBe("failed");
  });
});
