import type { Command } from "./command";
import { serveCommand } from "./serve";

/** Every CLI command. Features add theirs here. */
export const commands: Command[] = [serveCommand];
