// The agent's entry point (the bundle's dist/cli.js; the bin's tsx fallback): the young generation's
// setting first (heap-settings.ts), then the CLI and everything it imports, loaded after it. Loading
// the bundle's modules grows the young generation to 8 MB under Node's defaults when the setting comes
// later (measured: `lifeboat-agent --version`, 8.0 MB against 2.0 MB).
import "./heap-settings";

process.env.LIFEBOAT_AGENT_CLI = "1";
await import("./cli");
