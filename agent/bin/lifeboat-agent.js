#!/usr/bin/env node
// The installed `lifeboat-agent` command: loads the TypeScript CLI through tsx.
import { register } from "tsx/esm/api";
register();
process.env.LIFEBOAT_AGENT_CLI = "1";
await import("../cli.ts");
