import "server-only";
import { DomainError, hasErrorCode, type ErrorCode } from "../contracts/errors";
import { audit, type Db } from "../db/database";
import { wizardRuns, type WizardRun } from "../db/wizard-runs";
import { singleton } from "../server/context";

/**
 * The one wizard engine. A wizard is a kind, the steps each action is allowed on, and one handler
 * per action; the engine does the bookkeeping both wizards share: saved runs in `wizard_runs`, one
 * active run per kind, a lock per run, refusing an action off its step or on a closed run, and the
 * run's history of events.
 */

export interface WizardEvent {
  at: string;
  action: string;
  outcome: string;
  message: string;
}

export type Run<S> = WizardRun<S>;
export type RunStatus = Run<unknown>["status"];

/** Handles one action: checks what it needs, does it, audits, and answers the saved run. Throws DomainError. */
export type StepHandler<C, S, A> = (ctx: C, run: Run<S>, action: A) => Promise<Run<S>> | Run<S>;

export interface WizardSpec<C extends { db: Db }, S extends { events: WizardEvent[] }, Step extends string, A extends { action: string }> {
  kind: string;
  /** Validates a saved state (an old row, a hand edit) and the action a browser sent. */
  parseState(raw: unknown): S;
  parseAction(raw: unknown): A;
  /** The steps each action is allowed on. */
  allowedOn: { [K in A["action"]]: readonly Step[] };
  handlers: { [K in A["action"]]: StepHandler<C, S, Extract<A, { action: K }>> };
  /** Runs under the lock after the checks, before the handler (e.g. catching up with the agent). */
  beforeAction?(ctx: C, run: Run<S>, action: A): Promise<Run<S>>;
  /** Codes for "one is already active" and "this run is closed". */
  codes: { active: ErrorCode; closed: ErrorCode };
  messages: {
    notFound: string;
    active(run: Run<S>): string;
    /** "restore", "migration": in "This restore is finished; start a new one." */
    noun: string;
    /** What to check when a run that could not be read was closed (what it may have left in progress). */
    unreadable: string;
  };
}

export interface Wizard<C extends { db: Db }, S extends { events: WizardEvent[] }, Step extends string> {
  readonly kind: string;
  /** The run. Throws DomainError `not_found` for an unknown id or another wizard's run. */
  get(ctx: C, id: string): Run<S>;
  /** The active run, if any. */
  active(ctx: Pick<C, "db">): Run<S> | undefined;
  /** Throws the wizard's `active` code (with `runId`) when a run is active. */
  assertNoneActive(ctx: Pick<C, "db">): void;
  /** Saves a new run at `step` (checking again that none is active). */
  create(ctx: C, step: Step, state: S): Run<S>;
  save(ctx: C, run: Run<S>, patch: { step?: Step; status?: RunStatus; state: S }): Run<S>;
  /** Closes the run as abandoned, with `message` as its last event. */
  abandon(ctx: C, run: Run<S>, state: S, message: string): Run<S>;
  /** Applies one action under the run's lock. Throws DomainError: the closed code, `wrong_step`, 400s, the handler's. */
  act(ctx: C, id: string, raw: unknown): Promise<Run<S>>;
  /** Loads the run and runs `fn` under its lock (a refresh between a browser's actions). */
  withRun<T>(ctx: C, id: string, fn: (run: Run<S>) => Promise<T>): Promise<T>;
}

/** The state with one more event in its history. */
export function addEvent<S extends { events: WizardEvent[] }>(state: S, action: string, outcome: string, message: string): S {
  return { ...state, events: [...state.events, { at: new Date().toISOString(), action, outcome, message }] };
}

/** Writes the run's step, status and state (bumping `updatedAt`); answers the saved run. */
export function saveRun<S, Step extends string>(db: Db, run: Run<S>, patch: { step?: Step; status?: RunStatus; state: S }): Run<S> {
  return wizardRuns.update<S>(db, run.id, patch);
}

/** Closes the run as abandoned, with `message` as its last event. */
export function abandonRun<S extends { events: WizardEvent[] }>(db: Db, run: Run<S>, state: S, message: string): Run<S> {
  return saveRun(db, run, { status: "abandoned", state: addEvent(state, "abandon", "ok", message) });
}

// One action or refresh of a run at a time: a double click, a second tab or a background watcher
// must not interleave (each reads the run, calls the agent or the cluster, and writes the run).
// Process-wide (globalThis): Next.js bundles this module once per route.
const locks = () => singleton("wizard.locks", () => new Map<string, Promise<unknown>>());

async function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const held = locks();
  const prev = held.get(key) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const tail = next.catch(() => {});
  held.set(key, tail);
  try {
    return await next;
  } finally {
    if (held.get(key) === tail) held.delete(key);
  }
}

/** Builds a wizard from its spec (see the module comment). */
export function defineWizard<C extends { db: Db }, S extends { events: WizardEvent[] }, Step extends string, A extends { action: string }>(
  spec: WizardSpec<C, S, Step, A>,
): Wizard<C, S, Step> {
  /**
   * The run with its state validated. A saved state this version cannot read (written by another
   * version, a hand edit) would otherwise make every look at the wizard fail, the active run
   * included, so no new run could start: such a run is closed as it is (its saved state left in
   * place), audited, and answered with the closed code and a sentence.
   */
  const parsed = (db: Db, run: Run<unknown>): Run<S> => {
    try {
      return { ...run, state: spec.parseState(run.state) };
    } catch (err) {
      if (run.status === "active") {
        wizardRuns.setStatus(db, run.id, "abandoned");
        audit(db, `${spec.kind}.unreadable`, run.id, "closed", { step: run.step, error: (err as Error).message.slice(0, 500) });
      }
      throw new DomainError(
        spec.codes.closed,
        `This ${spec.messages.noun} was saved in a form this version of Lifeboat cannot read, so it was closed (see the audit log): start a new one. ${spec.messages.unreadable}`,
      );
    }
  };

  const wizard: Wizard<C, S, Step> = {
    kind: spec.kind,
    get(ctx, id) {
      const run = wizardRuns.get<unknown>(ctx.db, id);
      if (!run || run.kind !== spec.kind) throw new DomainError("not_found", spec.messages.notFound);
      return parsed(ctx.db, run);
    },
    active(ctx) {
      const run = wizardRuns.active<unknown>(ctx.db, spec.kind);
      if (!run) return undefined;
      try {
        return parsed(ctx.db, run);
      } catch (err) {
        // Closed just now: there is no active run any more.
        if (hasErrorCode(err, spec.codes.closed)) return undefined;
        throw err;
      }
    },
    assertNoneActive(ctx) {
      const active = wizard.active(ctx);
      if (active) throw new DomainError(spec.codes.active, spec.messages.active(active), { details: { runId: active.id } });
    },
    create(ctx, step, state) {
      wizard.assertNoneActive(ctx);
      return wizardRuns.create<S>(ctx.db, spec.kind, step, state);
    },
    save: (ctx, run, patch) => saveRun(ctx.db, run, patch),
    abandon: (ctx, run, state, message) => abandonRun(ctx.db, run, state, message),
    async act(ctx, id, raw) {
      const action = spec.parseAction(raw);
      return wizard.withRun(ctx, id, async (loaded) => {
        let run = loaded;
        if (run.status !== "active")
          throw new DomainError(spec.codes.closed, `This ${spec.messages.noun} is ${run.status === "done" ? "finished" : "abandoned"}; start a new one.`);
        const name = action.action as A["action"];
        if (!spec.allowedOn[name].includes(run.step as Step))
          throw new DomainError("wrong_step", `"${name}" is not possible at the "${run.step}" step (another tab may have moved on). Reload the page.`);
        if (spec.beforeAction) run = await spec.beforeAction(ctx, run, action);
        const handler = spec.handlers[name] as StepHandler<C, S, A>;
        return handler(ctx, run, action);
      });
    },
    withRun(ctx, id, fn) {
      return withLock(`${spec.kind}:${id}`, async () => fn(wizard.get(ctx, id)));
    },
  };
  return wizard;
}
