import "server-only";
import { accessSync, constants } from "node:fs";
import type { JoinInfo } from "../contracts/nodes";
import type { NodeContext } from "./context";

/** Joining a new worker to the cluster: the server address it joins, and the command of the incident write-up. */

/** The k3s server URL new workers join, and whether the token can be revealed here. */
export function joinInfo(ctx: NodeContext, kubeServer: string | null): JoinInfo {
  const server = ctx.env.LIFEBOAT_K3S_URL ?? kubeServer ?? "https://<server>:6443";
  let serverWarning: string | null = null;
  try {
    const host = new URL(server).hostname;
    if (["127.0.0.1", "localhost", "[::1]", "::1"].includes(host) || host.startsWith("127."))
      serverWarning = `The kubeconfig's server address (${server}) is a loopback address: a new worker cannot reach it. Set LIFEBOAT_K3S_URL to the k3s server's address as the workers see it (for example https://192.168.1.11:6443), or edit the command before running it.`;
  } catch {
    serverWarning = "No server address is known: set LIFEBOAT_K3S_URL (for example https://192.168.1.11:6443) or KUBECONFIG.";
  }
  const file = ctx.env.LIFEBOAT_K3S_TOKEN_FILE;
  let tokenAvailable = false;
  let tokenHelp: string | null = null;
  if (!file) {
    tokenHelp =
      "To reveal the join token here, set LIFEBOAT_K3S_TOKEN_FILE to a copy of the server's /var/lib/rancher/k3s/server/node-token (readable only by the dashboard). Or read it on the server: sudo cat /var/lib/rancher/k3s/server/node-token";
  } else {
    try {
      accessSync(file, constants.R_OK);
      tokenAvailable = true;
    } catch {
      tokenHelp = `LIFEBOAT_K3S_TOKEN_FILE is set, but ${file} cannot be read by the dashboard. Fix its path or permissions, or read the token on the server: sudo cat /var/lib/rancher/k3s/server/node-token`;
    }
  }
  return { server, serverWarning, tokenAvailable, tokenHelp, command: joinCommand(server, "<token>"), demoCluster: Boolean(ctx.env.LIFEBOAT_DEMO_CLUSTER) };
}

const shellWord = (s: string) => (/^[A-Za-z0-9:._/@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
/** The join command of the incident write-up, with the values filled in. */
export const joinCommand = (server: string, token: string) =>
  `curl -sfL https://get.k3s.io | K3S_URL=${shellWord(server)} K3S_TOKEN=${token === "<token>" ? token : shellWord(token)} sh -`;
