"use client";

import { useEffect, useRef } from "react";
import { useRouter } from "next/navigation";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Button } from "@/components/ui/button";
import type { DrillRecord } from "@/lib/restore/contracts";
import { backupActions, drillKeys, setDrillQuery } from "./queries";

/**
 * "Verify now": asks the dashboard to queue a restore drill of this set (ahead of automatic ones),
 * then follows it until it is verified or failed, and refreshes the page to show the result.
 */
export function VerifyNowButton({ setId, initial }: { setId: string; initial: DrillRecord | null }) {
  const qc = useQueryClient();
  const router = useRouter();
  const drill = useQuery({ ...setDrillQuery(setId), initialData: { drill: initial } });
  const request = useMutation({
    mutationFn: () => backupActions.verify(setId),
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
          {request.error.message}
        </p>
      )}
    </div>
  );
}
