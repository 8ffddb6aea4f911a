import { NextResponse } from "next/server";
import { apiRoute, readJson, type Params } from "@/lib/http/api-route";
import { DrainOptions } from "@/lib/contracts/nodes";
import { nodeContext } from "@/lib/kube/context";

export const dynamic = "force-dynamic";

/** GET /api/nodes/:name/drain → `{ job: DrainJob | null }`, the node's latest drain (poll it while running). */
export const GET = apiRoute<Params<{ name: string }>>({ access: "viewer" }, async (_req, { params }) => {
  const { name } = await params;
  return NextResponse.json({ job: nodeContext().drains.latestForNode(name) ?? null });
});

/** POST /api/nodes/:name/drain with DrainOptions → 202 `{ job }`; 409 `drain_running` when one is already running. */
export const POST = apiRoute<Params<{ name: string }>>({ access: "admin" }, async (req, { params }) => {
  const { name } = await params;
  const options = await readJson(req, DrainOptions);
  const job = nodeContext().drains.start(name, options);
  return NextResponse.json({ job }, { status: 202 });
});

/** DELETE /api/nodes/:name/drain → stops the running drain; `{ job }` (null when none was running). */
export const DELETE = apiRoute<Params<{ name: string }>>({ access: "admin" }, async (_req, { params }) => {
  const { name } = await params;
  const drains = nodeContext().drains;
  const latest = drains.latestForNode(name);
  const job = latest?.state === "running" ? await drains.cancel(latest.id) : undefined;
  return NextResponse.json({ job: job ?? null });
});
