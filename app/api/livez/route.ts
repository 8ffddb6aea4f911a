import { NextResponse } from "next/server";

export const dynamic = "force-dynamic";

/** Liveness: the dashboard server answers. Touches nothing else. */
export function GET() {
  return NextResponse.json({ ok: true });
}
