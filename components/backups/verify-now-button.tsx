"use client";

import { useEffect, useRef } from "react";
import { useRouter } from "next/navigation";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { z } from "zod";
import { Button } from "@/components/ui/button";
import { apiJson } from "@/components/nodes/api";
import { DrillRecord } from "@/lib/restore/contracts";

const DrillAnswer = z.object({ drill: DrillRecord.nullable() });

export const drillKeys = {
  all: ["drills"] as const,
  set: (id: string) => [...drillKeys.all, "set", id] as const,
  overview: () => [...drillKeys.all, "overview"] as const,
};

/**
 * "Verify now": asks the dashboard to queue a restore drill of this set (ahead of automatic ones),
 * then follows it until it is verified or failed, and refreshes the page to show the result.
 */
export function VerifyNowButton({ setId, initial }: { setId: string; initial: DrillRecord | null }) {
  const qc = useQueryClient();
  const router = useRouter();
  const url = `/api/backups/${encodeURIComponent(setId)}/verify`;
  const drill = useQuery({
    queryKey: drillKeys.set(setId),
    queryFn: ({ signal }) => apiJson(url, DrillAnswer, { signal }),
    initialData: { drill: initial },
    refetchInterval: (q) => (q.state.data?.drill && ["queued", "running"].includes(q.state.data.drill.state) ? 1000 : false),
  });
  const request = useMutation({
    mutationFn: () => apiJson(url, DrillAnswer, { method: "POST" }),
    onSuccess: (d) => qc.setQueryData(drillKeys.set(setId), d),
  });
  const state = drill.data?.drill?.state ?? null;
  const busy = request.isPending || state === "queued" || state === "running";
  const was = useRef(state);
  useEffect(() => {
    // The drill finished while we watched: the server-rendered badge and details are stale.
    if ((was.current === "queued" || was.current === "running") && (state === "verified" || state === "failed")) router.refresh();
    was.current = state;
  }, [state, router]);

  return (
    <div className="flex flex-col items-end gap-1">
      <Button variant="secondary" onClick={() => request.mutate()} disabled={busy}>
        {state === "running" ? "Verifying…" : state === "queued" ? "Queued…" : "Verify now"}
      </Button>
      {request.error && (
        <p role="alert" className="max-w-sm text-right text-xs text-red-800">
          {(request.error as Error).message}
        </p>
      )}
    </div>
  );
}
