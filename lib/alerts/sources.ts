import "server-only";
import type { Db } from "../db/database";
import type { CatalogService } from "../catalog/catalog-service";
import { DrillStore } from "../restore/drill-store";
import type { AlertSources } from "./alert-service";
import { countsAsBackup } from "../backups/grouping";
import type { AgentInput, ManifestFacts } from "./rules/types";

/**
 * The alert rules' input from a catalog (its view, status and cached manifests), the drill results
 * of its store, and the agent as `agent()` reports it. The process wires its own catalog here
 * (lib/alerts/index.ts); tests wire one over their own s3rver.
 */
export function catalogSources(catalog: CatalogService, db: Db, agent: () => AgentInput, explanationLines?: AlertSources["explanationLines"]): AlertSources {
  let drills: DrillStore | undefined;
  return {
    catalog() {
      const status = catalog.status();
      const view = catalog.view();
      return {
        source: catalog.source,
        configured: status.configured,
        sets: view.sets,
        partial: view.partial,
        error: status.error && status.error.failure !== "not_configured" ? status.error : null,
        refreshedAt: status.refreshedAt,
        refreshIntervalMs: status.refreshIntervalSeconds * 1000,
        verifications: (drills ??= new DrillStore(db, catalog.source)).verifications(),
      };
    },
    async manifests(sets) {
      const out: ManifestFacts[] = [];
      const byId = new Map(catalog.view().sets.map((s) => [s.id, s]));
      for (const s of sets) {
        if (out.length === 3) break;
        if (s.format !== "lifeboat" || !countsAsBackup(s)) continue;
        const set = byId.get(s.id);
        const m = set ? await catalog.manifest(set) : null;
        // A gap among the newest three: no trend from older ones.
        if (m?.state !== "ok") break;
        out.push({ setId: s.id, timestamp: s.timestamp, stats: m.manifest.database });
      }
      return out;
    },
    agent,
    explanationLines,
  };
}
