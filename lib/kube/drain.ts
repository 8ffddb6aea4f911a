import "server-only";
import { randomUUID } from "node:crypto";
import type { DrainChoice, DrainJob, DrainOptions, DrainPodProgress } from "../contracts/nodes";
import { isKubeError } from "./errors";
import type { KubeClient, V1Node, V1Pod, V1PodDisruptionBudget } from "./kube-client";
import { matchesSelector, type LabelSelector } from "./selectors";
import { podKind, podSummary } from "./views";
import { drainChoices } from "./choices";
import { drainCommand } from "./format";

export { drainCommand };

/**
 * Draining a node the way `kubectl drain --ignore-daemonsets` does: the node is cordoned, then every pod bound to it except
 * DaemonSet-owned and mirror (static) pods is evicted through the Eviction API; a refusal by a
 * PodDisruptionBudget (429) is retried with back-off until the timeout; pods with emptyDir data or
 * without a controller need an explicit choice first; evicted pods are awaited until gone. Progress
 * is reported pod by pod.
 *
 * A node whose kubelet is gone (NotReady or Unknown, e.g. a dead worker) can never confirm that a pod
 * stopped, so its evicted pods stay Terminating forever. Like kubectl's
 * --skip-wait-for-delete-timeout, a pod still there after its deletionTimestamp (the end of its grace
 * period, which the API server writes as now + grace) is not waited for any longer — but only while
 * its node is not Ready: it ends `deleted`, and the report says it goes with the node (the pod GC
 * removes it when the node object is deleted). On a Ready node nothing changes: its kubelet will
 * confirm, so the drain waits, and fails at the deadline if a pod is still terminating.
 */

export interface DrainTiming {
  /** First wait after a refused eviction; doubles up to backoffMaxMs (kubectl waits 5 s each time). */
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** How often to check that an evicted pod is gone. */
  pollMs: number;
  /** Evictions in flight at once. */
  concurrency: number;
}
export const DEFAULT_DRAIN_TIMING: DrainTiming = { backoffInitialMs: 1000, backoffMaxMs: 5000, pollMs: 1000, concurrency: 8 };

export interface DrainDeps {
  client: Pick<KubeClient, "cordon" | "listPods" | "evictPod" | "readPod" | "listPdbs" | "readNode">;
  /** Called with a snapshot after every change. */
  onUpdate?: (job: DrainJob) => void;
  signal?: AbortSignal;
  timing?: Partial<DrainTiming>;
  id?: string;
}

export interface DrainPlan {
  evict: V1Pod[];
  skipped: { pod: V1Pod; message: string }[];
  needsChoice: DrainChoice[];
}

const podKey = (p: V1Pod) => `${p.metadata?.namespace}/${p.metadata?.name}`;

/** Sorts a node's pods into evict / skip / needs-a-choice (pure). */
export function planDrain(pods: V1Pod[], o: Pick<DrainOptions, "deleteEmptyDirData" | "force">): DrainPlan {
  const plan: DrainPlan = { evict: [], skipped: [], needsChoice: [] };
  plan.needsChoice = drainChoices(pods.map((p) => podSummary(p))).filter((c) => (c.reason === "emptyDir" ? !o.deleteEmptyDirData : !o.force));
  const waiting = new Set(plan.needsChoice.map((c) => `${c.namespace}/${c.name}`));
  for (const pod of pods) {
    const kind = podKind(pod);
    if (kind === "daemonset") plan.skipped.push({ pod, message: "DaemonSet pod: left in place (--ignore-daemonsets); it goes with the node." });
    else if (kind === "mirror")
      plan.skipped.push({ pod, message: "Static (mirror) pod: the kubelet runs it from a file on the node; the API cannot evict it." });
    else if (!waiting.has(podKey(pod))) plan.evict.push(pod);
  }
  return plan;
}

class Aborted extends Error {}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new Aborted());
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new Aborted());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** The node's Ready condition is True (its kubelet posts status). */
const isReady = (n: V1Node) => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

/** The grace period the API server gave a deleted pod is over (deletionTimestamp = deletion + grace). */
const gracePassed = (p: V1Pod) => p.metadata?.deletionTimestamp != null && new Date(p.metadata.deletionTimestamp).getTime() <= Date.now();

/** Errors no retry can fix: stop the whole drain. */
const isFatal = (e: unknown) => isKubeError(e, "forbidden", "unauthorized", "not_configured", "tls");

/**
 * Drains `node`. Resolves with the final job (succeeded, failed with blockers, refused when pods
 * need a choice, or cancelled through `signal`); it does not reject for API failures — they end up
 * in the job's message and per-pod states.
 */
export async function drainNode(node: string, options: DrainOptions, deps: DrainDeps): Promise<DrainJob> {
  const timing = { ...DEFAULT_DRAIN_TIMING, ...deps.timing };
  const started = Date.now();
  const deadline = started + options.timeoutSeconds * 1000;
  const job: DrainJob = {
    id: deps.id ?? randomUUID(),
    node,
    state: "running",
    options,
    startedAt: new Date(started).toISOString(),
    finishedAt: null,
    pods: [],
    needsChoice: [],
    blockers: [],
    message: null,
    kubectl: drainCommand(node, options),
  };
  const emit = () => deps.onUpdate?.(structuredClone(job));
  const finish = (state: DrainJob["state"], message: string) => {
    job.state = state;
    job.message = message;
    job.finishedAt = new Date().toISOString();
    emit();
    return structuredClone(job);
  };
  emit();

  let pods: V1Pod[];
  try {
    // Like kubectl drain: cordon first, so evicted pods are not scheduled straight back.
    await deps.client.cordon(node);
    pods = await deps.client.listPods({ nodeName: node });
  } catch (e) {
    return finish("failed", (e as Error).message);
  }
  const plan = planDrain(pods, options);
  const progress = new Map<string, DrainPodProgress>();
  const set = (p: V1Pod, patch: Partial<DrainPodProgress>) => {
    const cur = progress.get(podKey(p))!;
    Object.assign(cur, patch, { updatedAt: new Date().toISOString() });
    emit();
  };
  for (const pod of [...plan.evict, ...plan.skipped.map((s) => s.pod)].sort((a, b) => podKey(a).localeCompare(podKey(b)))) {
    const skipped = plan.skipped.find((s) => s.pod === pod);
    const entry: DrainPodProgress = {
      namespace: pod.metadata?.namespace ?? "",
      name: pod.metadata?.name ?? "",
      state: skipped ? "skipped" : "pending",
      message: skipped?.message ?? null,
      pdbs: [],
      attempts: 0,
      updatedAt: new Date().toISOString(),
    };
    progress.set(podKey(pod), entry);
    job.pods.push(entry);
  }
  for (const c of plan.needsChoice) {
    if (!progress.has(`${c.namespace}/${c.name}`)) {
      const entry: DrainPodProgress = {
        namespace: c.namespace,
        name: c.name,
        state: "pending",
        message: c.detail,
        pdbs: [],
        attempts: 0,
        updatedAt: new Date().toISOString(),
      };
      progress.set(`${c.namespace}/${c.name}`, entry);
      job.pods.push(entry);
    }
  }
  if (plan.needsChoice.length) {
    job.needsChoice = plan.needsChoice;
    const emptyDir = plan.needsChoice.some((c) => c.reason === "emptyDir");
    const unmanaged = plan.needsChoice.some((c) => c.reason === "unmanaged");
    const what = [emptyDir ? "delete emptyDir data" : "", unmanaged ? "evict pods no controller manages" : ""].filter(Boolean).join(" and ");
    return finish(
      "refused",
      `Nothing was evicted: ${plan.needsChoice.length === 1 ? "a pod needs" : `${new Set(plan.needsChoice.map((c) => `${c.namespace}/${c.name}`)).size} pods need`} an explicit choice first. Choose to ${what}, then drain again.`,
    );
  }

  let pdbCache: V1PodDisruptionBudget[] | undefined;
  const budgetsFor = async (pod: V1Pod): Promise<string[]> => {
    try {
      pdbCache ??= await deps.client.listPdbs();
    } catch {
      return [];
    }
    return pdbCache
      .filter((b) => b.metadata?.namespace === pod.metadata?.namespace && matchesSelector(b.spec?.selector as LabelSelector | undefined, pod.metadata?.labels))
      .map((b) => b.metadata?.name ?? "");
  };

  let fatal: Error | null = null;
  const stop = new AbortController();
  const signal = deps.signal ? AbortSignal.any([deps.signal, stop.signal]) : stop.signal;
  const timeLeft = () => deadline - Date.now();

  // Whether the node is not Ready, read at most once per poll for all pods. Unknown (the read
  // failed) counts as Ready: the drain then keeps waiting, as it always did.
  let nodeCheck: { at: number; notReady: Promise<boolean> } | undefined;
  const nodeNotReady = () => {
    if (!nodeCheck || Date.now() - nodeCheck.at >= timing.pollMs)
      nodeCheck = {
        at: Date.now(),
        notReady: Promise.resolve()
          .then(() => deps.client.readNode(node))
          .then(
            (n) => !isReady(n),
            () => false,
          ),
      };
    return nodeCheck.notReady;
  };

  const drainOne = async (pod: V1Pod) => {
    const ns = pod.metadata?.namespace ?? "";
    const name = pod.metadata?.name ?? "";
    const uid = pod.metadata?.uid;
    let attempt = 0;
    for (;;) {
      if (signal.aborted) throw new Aborted();
      attempt++;
      set(pod, { state: attempt === 1 ? "evicting" : progress.get(podKey(pod))!.state, attempts: attempt });
      let result;
      try {
        result = await deps.client.evictPod(ns, name);
      } catch (e) {
        if (isFatal(e)) {
          set(pod, { state: "failed", message: (e as Error).message });
          fatal = e as Error;
          stop.abort();
          throw new Aborted();
        }
        if (isKubeError(e, "unreachable") && timeLeft() > 0) {
          set(pod, { state: "evicting", message: `Retrying: ${e.message}` });
          await sleep(Math.min(timing.backoffMaxMs, timeLeft()), signal);
          continue;
        }
        set(pod, { state: "failed", message: (e as Error).message });
        return;
      }
      if (result.outcome === "gone") {
        set(pod, { state: "gone", message: "Already gone." });
        return;
      }
      if (result.outcome === "blocked") {
        const pdbs = result.pdbs.length ? result.pdbs : await budgetsFor(pod);
        const wait = Math.min(timing.backoffMaxMs, timing.backoffInitialMs * 2 ** Math.min(attempt - 1, 10));
        if (timeLeft() <= 0) {
          set(pod, { state: "failed", pdbs, message: `Still refused when the drain timed out: ${result.message}` });
          return;
        }
        set(pod, { state: "blocked", pdbs, message: `${result.message.replace(/\.?$/, ".")} Retrying in ${Math.round(wait / 100) / 10} s.` });
        await sleep(Math.min(wait, Math.max(timeLeft(), 0) + 10), signal);
        continue;
      }
      break;
    }
    set(pod, { state: "terminating", message: "Evicted; waiting for it to stop." });
    for (;;) {
      let cur: V1Pod | null | undefined;
      try {
        cur = await deps.client.readPod(ns, name);
      } catch (e) {
        if (isFatal(e)) {
          fatal = e as Error;
          stop.abort();
          throw new Aborted();
        }
        cur = undefined; // unknown: ask again
      }
      if (cur === null || (cur && cur.metadata?.uid !== uid)) {
        const p = progress.get(podKey(pod))!;
        const refusals = p.attempts - 1;
        set(pod, {
          state: "gone",
          message:
            refusals > 0 && p.pdbs.length
              ? `Evicted once PodDisruptionBudget ${p.pdbs.join(", ")} allowed it (after ${refusals} refusal${refusals === 1 ? "" : "s"}).`
              : null,
        });
        return;
      }
      if (cur && gracePassed(cur) && (await nodeNotReady())) {
        set(pod, {
          state: "deleted",
          message: `Deleted, but ${node} is NotReady: its kubelet cannot confirm that the pod stopped, so it stays Terminating until the node is deleted (or its kubelet is back).`,
        });
        return;
      }
      if (timeLeft() <= 0) {
        set(pod, { state: "failed", message: "Evicted, but still terminating when the drain timed out." });
        return;
      }
      await sleep(Math.min(timing.pollMs, Math.max(timeLeft(), 0) + 10), signal);
    }
  };

  // A small worker pool over the pods to evict.
  const queue = [...plan.evict];
  const worker = async () => {
    for (let pod = queue.shift(); pod; pod = queue.shift()) await drainOne(pod);
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(timing.concurrency, queue.length) }, worker));
  for (const r of results) if (r.status === "rejected" && !(r.reason instanceof Aborted)) throw r.reason;

  if (fatal) return finish("failed", (fatal as Error).message);
  if (deps.signal?.aborted) return finish("cancelled", "The drain was stopped. Pods already evicted stay evicted; the node stays cordoned.");
  const left = job.pods.filter((p) => p.state !== "gone" && p.state !== "deleted" && p.state !== "skipped");
  const unconfirmed = job.pods.filter((p) => p.state === "deleted").map((p) => `${p.namespace}/${p.name}`);
  // kubectl drain --skip-wait-for-delete-timeout=1 would have done the same (it skips any pod deleted over 1 s ago).
  if (unconfirmed.length) job.kubectl = drainCommand(node, options, 1);
  const note = unconfirmed.length
    ? ` The node is NotReady, so its kubelet cannot confirm that evicted pods stopped: pod${unconfirmed.length === 1 ? "" : "s"} ${unconfirmed.join(", ")} ${unconfirmed.length === 1 ? "was" : "were"} deleted and will be removed with the node (when it is deleted, or when its kubelet is back).`
    : "";
  if (!left.length) {
    const n = job.pods.filter((p) => p.state === "gone" || p.state === "deleted").length;
    return finish(
      "succeeded",
      `${node} is drained: ${n} pod${n === 1 ? "" : "s"} evicted, ${job.pods.length - n} left in place (DaemonSet or static pods).${note}`,
    );
  }
  job.blockers = left.map((p) => ({ namespace: p.namespace, name: p.name, pdbs: p.pdbs, message: p.message ?? p.state }));
  const budgets = [...new Set(left.flatMap((p) => p.pdbs))];
  const took = Math.round((Date.now() - started) / 1000);
  return finish(
    "failed",
    `${left.length} pod${left.length === 1 ? " is" : "s are"} still on ${node} after ${took} s: ${left.map((p) => `${p.namespace}/${p.name}`).join(", ")}.` +
      (budgets.length
        ? (await nodeNotReady())
          ? // The pods of a dead node are not Ready either, so a budget whose pods are all there can never allow an
            // eviction. Kubernetes deletes them itself once they stop tolerating the node's NoExecute taint.
            ` Blocked by PodDisruptionBudget ${budgets.join(", ")}: ${node} is NotReady, so the pods it covers there are not Ready and do not count toward it.` +
            ` Kubernetes deletes them once they stop tolerating the node's not-ready taint (300 s after it went NotReady, unless a pod sets its own tolerationSeconds), and their controllers start them elsewhere;` +
            ` drain again after that, or relax the budget.`
          : ` Blocked by PodDisruptionBudget ${budgets.join(", ")}: wait until the pods it covers are Ready elsewhere, or relax the budget, then drain again.`
        : " Drain again, or look at the pods' events.") +
      note,
  );
}
