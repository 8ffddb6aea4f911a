"use client";

import { Banner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";

/** A page that failed to render: say so, and offer to try again (the server log has the cause). */
export default function BackupsError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <Banner
      tone="error"
      title="This page could not be shown"
      actions={
        <Button variant="secondary" onClick={reset}>
          Try again
        </Button>
      }
    >
      <p>
        The dashboard server failed while building it{error.digest ? ` (error ${error.digest} in its log)` : ""}. Try again; if it keeps failing, check the
        server log.
      </p>
    </Banner>
  );
}
