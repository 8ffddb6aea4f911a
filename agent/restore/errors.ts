import { DomainError } from "../../lib/contracts/errors";

/** A restore step failed; the message is the full sentence for the user (what happened, what the server looks like, what to do). */
export class RestoreFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RestoreFailure";
  }
}

/** The request does not fit the restore's state, e.g. confirming a finished one (`restore_state`). */
export class RestoreStateError extends DomainError {
  constructor(message: string) {
    super("restore_state", message);
  }
}

/** There is no restore with this id on this agent (`not_found`). */
export class RestoreNotFoundError extends DomainError {
  constructor(id: string) {
    super("not_found", `There is no restore ${id} on this agent.`);
  }
}
