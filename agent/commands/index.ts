import type { Command } from "./command";
import { serveCommand } from "./serve";
import { backupCommand } from "./backup";
import { listCommand } from "./list";
import { statsCommand } from "./stats";
import { retentionCommand } from "./retention";
import { demoCommand } from "./demo";
import { healthCommand } from "./health";
import { recoverCommand } from "./recover";
import { restoreCommand } from "./restore";
import { rollbackCommand } from "./rollback";
import { statusCommand } from "./status";
import { doctorCommand } from "./doctor";

/** Every CLI command. Features add theirs here. */
export const commands: Command[] = [
  serveCommand,
  backupCommand,
  listCommand,
  statsCommand,
  retentionCommand,
  demoCommand,
  healthCommand,
  recoverCommand,
  restoreCommand,
  rollbackCommand,
  statusCommand,
  doctorCommand,
];
