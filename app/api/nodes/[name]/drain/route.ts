import { NextResponse } from "next/server";
import { handle, readJson } from "@/lib/http/api";
import { DrainOptions } from "@/lib/contracts/nodes";
import { nodeContext } from "@/lib/kube/context";
import { kubeRoute } from "@/lib/kube/http";

export const dynamic = "force-dynamic";
type Ctx = { params: Promise<{ name: string }> };

/** GET /api/nodes/:name/drain → `{ job: DrainJob | null }`, the node's latest drain (poll it while running). */
export const GET = handle(async (_req: Request, { params }: Ctx) => {
  const { name } = await params;
  return NextResponse.json({ job: nodeContext().drains.latestForNode(name) ?? null });
});

/** POST /api/nodes/:name/drain with DrainOptions → 202 `{ job }`; 409 when one is already running. */
export const POST = handle(async (req: Request, { params }: Ctx) => {
  const { name } = await params;
  const options = await readJson(req, DrainOptions);
  const job = await kubeRoute(() => nodeContext().drains.start(name, options));
  return NextResponse.json({ job }, { status: 202 });
});

/** DELETE /api/nodes/:name/drain → stops the running drain; `{ job }` (null when none was running). */
export const DELETE = handle(async (_req: Request, { params }: Ctx) => {
  const { name } = await params;
  const drains = nodeContext().drains;
  const latest = drains.latestForNode(name);
  const job = latest?.state === "running" ? await drains.cancel(latest.id) : undefined;
  return NextResponse.json({ job: job ?? null });
});
