"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { Button } from "@/components/ui/button";
import { backupActions, backupKeys } from "./queries";

/** Lists the store now; the page then re-renders from the refreshed cache (or shows why it failed). */
export function RefreshButton({ variant = "secondary" }: { variant?: "secondary" | "primary" }) {
  const queryClient = useQueryClient();
  const router = useRouter();
  const refresh = useMutation({
    mutationFn: () => backupActions.refreshCatalog(),
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: backupKeys.all });
      router.refresh();
    },
  });
  return (
    <Button variant={variant} onClick={() => refresh.mutate()} disabled={refresh.isPending} aria-busy={refresh.isPending}>
      <span aria-hidden className={refresh.isPending ? "inline-block animate-spin" : "inline-block"}>
        ↻
      </span>
      {refresh.isPending ? "Refreshing…" : "Refresh"}
    </Button>
  );
}
