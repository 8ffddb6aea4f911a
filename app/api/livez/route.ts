import { NextResponse } from "next/server";
import { apiRoute } from "@/lib/http/api-route";

export const dynamic = "force-dynamic";

/** Liveness: the dashboard server answers. Touches nothing else; the one route open to anyone. */
export const GET = apiRoute({ access: "public" }, () => NextResponse.json({ ok: true }));
