import { Banner } from "@/components/ui/banner";

/** The warning every page shows while the dashboard talks to its agent over plain HTTP across the network. */
export function TransportWarning({ text }: { text: string }) {
  return (
    <div className="mb-4" data-testid="agent-insecure-warning">
      <Banner tone="warning" title="The agent's token crosses the network in clear">
        {text}
      </Banner>
    </div>
  );
}
