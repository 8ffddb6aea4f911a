import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";
import { nodeContext } from "@/lib/kube/context";
import { fetchNodes } from "@/lib/kube/node-service";

export const dynamic = "force-dynamic";

/**
 * GET /api/nodes → NodesResponse. Always 200: when the cluster is unreachable, forbidden or not
 * configured, `error` says so and `nodes` is the last list seen (`fetchedAt` says how old).
 */
export const GET = apiRoute({ access: "viewer" }, async () => NextResponse.json(await fetchNodes(nodeContext())));
