import type { Job } from "../../lib/contracts/agent-jobs";
import type { RestoreSource } from "../../lib/contracts/agent-restore";
import type { AgentDeps } from "../module";
import { startRestore } from "../restore/runner";

/** A restore drill of `source` in-process (what POST /restores with dryRun does), resolved with its finished job. Rejects as startRestore does. */
export async function runDrill(deps: AgentDeps, source: RestoreSource, opts: { compareWithLive?: boolean } = {}): Promise<Job> {
  const { done } = await startRestore(deps, {
    source,
    dryRun: true,
    include: { token: true, cred: false, tls: false },
    confirm: false,
    compareWithLive: opts.compareWithLive ?? false,
  });
  return done;
}
