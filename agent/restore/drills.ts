import { promises as fsp } from "node:fs";
import type { AgentConfig } from "../config";
import { journalDir, listJournals } from "./journal";

/** Drill journals kept: drills are frequent (one per new backup), restores are kept forever. */
const KEEP_DRILLS = 30;

/** Keeps the journal directory small: removes all but the newest KEEP_DRILLS finished drills. Rejects on I/O errors. */
export async function pruneDrills(cfg: AgentConfig): Promise<void> {
  const drills = (await listJournals(cfg)).filter((j) => j.kind === "drill" && j.status !== "running");
  for (const j of drills.slice(KEEP_DRILLS)) await fsp.rm(journalDir(cfg, j.id), { recursive: true, force: true });
}
