import "server-only";
import { randomUUID } from "node:crypto";
import type { Db } from "./database";

export interface WizardRun<S> {
  id: string;
  kind: string;
  step: string;
  status: "active" | "done" | "abandoned";
  state: S;
  createdAt: string;
  updatedAt: string;
}

type Row = { id: string; kind: string; step: string; status: string; state: string; created_at: string; updated_at: string };
const fromRow = <S>(r: Row): WizardRun<S> => ({
  id: r.id,
  kind: r.kind,
  step: r.step,
  status: r.status as WizardRun<S>["status"],
  state: parseJson(r.state) as S,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** The saved state; text that is not JSON reads as null, which the wizard's schema then refuses (lib/wizard/engine.ts). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Saved wizard progress, so a reload, a closed tab or a dashboard restart resumes at the same step. */
export const wizardRuns = {
  create<S>(db: Db, kind: string, step: string, state: S): WizardRun<S> {
    const now = new Date().toISOString();
    const id = randomUUID();
    db.prepare("INSERT INTO wizard_runs (id, kind, step, status, state, created_at, updated_at) VALUES (?, ?, ?, 'active', ?, ?, ?)").run(
      id,
      kind,
      step,
      JSON.stringify(state),
      now,
      now,
    );
    return { id, kind, step, status: "active", state, createdAt: now, updatedAt: now };
  },
  get<S>(db: Db, id: string): WizardRun<S> | undefined {
    const r = db.prepare("SELECT * FROM wizard_runs WHERE id = ?").get(id) as Row | undefined;
    return r ? fromRow<S>(r) : undefined;
  },
  /** The most recently updated active run of a kind. */
  active<S>(db: Db, kind: string): WizardRun<S> | undefined {
    const r = db.prepare("SELECT * FROM wizard_runs WHERE kind = ? AND status = 'active' ORDER BY updated_at DESC LIMIT 1").get(kind) as Row | undefined;
    return r ? fromRow<S>(r) : undefined;
  },
  /** Sets a run's status alone, its saved state untouched (even one that does not parse). */
  setStatus(db: Db, id: string, status: WizardRun<unknown>["status"]): void {
    db.prepare("UPDATE wizard_runs SET status = ?, updated_at = ? WHERE id = ?").run(status, new Date().toISOString(), id);
  },
  update<S>(db: Db, id: string, patch: { step?: string; status?: WizardRun<S>["status"]; state?: S }): WizardRun<S> {
    const cur = this.get<S>(db, id);
    if (!cur) throw new Error(`wizard run ${id} not found`);
    const next = { ...cur, ...patch, updatedAt: new Date().toISOString() };
    db.prepare("UPDATE wizard_runs SET step = ?, status = ?, state = ?, updated_at = ? WHERE id = ?").run(
      next.step,
      next.status,
      JSON.stringify(next.state),
      next.updatedAt,
      id,
    );
    return next;
  },
};
