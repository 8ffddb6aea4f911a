import { RESTORE_STEPS, STAGE_STEPS, SWAP_STEPS, type RestoreStepName } from "../../lib/contracts/agent-restore";
import type { RestoreJournal } from "./journal";

export { STAGE_STEPS, SWAP_STEPS };

/** A drill's steps (stage, verify), or all of a restore's. */
export function stepsOf(kind: RestoreJournal["kind"]): RestoreStepName[] {
  return kind === "drill" ? [...STAGE_STEPS] : [...STAGE_STEPS, ...SWAP_STEPS];
}

/** A step's label, unless `labels` names it otherwise (a rollback's swap puts the previous database back). */
export function stepLabel(name: RestoreStepName, labels: Partial<Record<RestoreStepName, string>> = {}): string {
  return labels[name] ?? RESTORE_STEPS.find((s) => s.name === name)!.label;
}
