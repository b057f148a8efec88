/**
 * One node's session: its agent pod started, the work done through it with
 * each stage announced, a failure recorded in the node's report, and the
 * agent removed whatever happens. Streaming an import retries a dropped API
 * connection (the runtime names an image only once all of it arrived, so a
 * broken stream leaves nothing half-present).
 */
import { BundleReader } from '../bundle/reader.js';
import type { BundleImage } from '../bundle/layout.js';
import { AgentStartError, pickAgentImage, removeAgent, startAgent, type NodeAgent, type StreamTransport } from '../cluster/agent.js';
import { locateInjector } from '../configmap/injector-binary.js';
import { sandboxGoneError } from './sandbox-gone.js';
import type { ClusterConnection } from '../cluster/kube.js';
import { ExecConnectionError } from '../cluster/exec.js';
import { sleep } from '../oci/retry.js';
import type { RuntimeDriver } from './drivers.js';
import type { NodePlan } from './plan.js';
import { recordFailure } from './report.js';

export interface SessionOptions {
  conn: ClusterConnection;
  namespace: string;
  agentImage?: string;
  signal?: AbortSignal;
  /** For the way back when the node cannot start pods: the bundle file and lading's CRI-O store. */
  bundle?: string;
  imageStore?: string;
  /** How images stream into the agent (default proxy, falling back to exec). */
  transport?: StreamTransport;
}

export type OnStage = (stage: string) => void;

export const INJECT_ATTEMPTS = 3;

/** What lading knows of the node's sandbox image without an agent: the name install recorded, and whether the bundle carries it. */
export interface SandboxHint {
  recorded?: string | undefined;
  bundleImages: string[];
}

/**
 * Starts the node's agent: the image asked for, else the node's sandbox
 * image as its status lists it, else the one install recorded (the status
 * lists only the largest images). A pod the kubelet cannot even give a
 * sandbox means the sandbox image is gone: said so, with the way back.
 */
async function startNodeAgent(options: SessionOptions, plan: NodePlan, sandbox: SandboxHint | undefined): Promise<NodeAgent> {
  const { conn, namespace, signal } = options;
  // The runtime's own sandbox image as install recorded it, when the node still lists it, is the surest choice.
  const recorded = sandbox?.recorded && plan.facts.images.has(sandbox.recorded) ? sandbox.recorded : undefined;
  const image = options.agentImage ?? recorded ?? pickAgentImage(plan.facts.node) ?? sandbox?.recorded;
  try {
    return await startAgent(conn, {
      namespace,
      node: plan.facts.node,
      ...(image ? { image } : {}),
      ...(signal ? { signal } : {}),
      ...(options.transport ? { transport: options.transport } : {}),
      // The injector program is the receiver too (`injector receive`).
      receiverProgram: (platform) => locateInjector(platform),
    });
  } catch (error) {
    if (!(error instanceof AgentStartError) || !error.sandbox) throw error;
    // The agent's own image is the sandbox image unless --agent-image named another one.
    const name = sandbox?.recorded ?? (options.agentImage ? undefined : image);
    throw sandboxGoneError({
      node: plan.facts.name,
      runtime: plan.facts.runtime,
      image: name,
      said: `${error.sandbox.reason}: ${error.sandbox.message ?? ''}`,
      bundle: options.bundle ?? 'BUNDLE',
      bundleCarries: name !== undefined && (sandbox?.bundleImages ?? []).includes(name),
      imageStore: options.imageStore,
    });
  }
}

/** Runs `work` with the node's agent, records a failure in the node's report, and removes the agent whatever happens. */
export async function withAgent<T>(options: SessionOptions, plan: NodePlan, onStage: OnStage, work: (agent: NodeAgent) => Promise<T>, sandbox?: SandboxHint): Promise<T> {
  let agent: NodeAgent | undefined;
  try {
    onStage('starting agent');
    agent = await startNodeAgent(options, plan, sandbox);
    return await work(agent);
  } catch (error) {
    recordFailure(plan.report, error);
    throw error;
  } finally {
    if (agent) {
      await agent.close();
      await removeAgent(options.conn, options.namespace, agent.pod);
    }
  }
}

/**
 * Streams the images in; if the API connection drops mid-stream, streams
 * them again. Progress counts each byte once.
 */
export async function injectWithRetry(
  driver: Pick<RuntimeDriver, 'inject'>,
  bundle: string,
  images: BundleImage[],
  platform: string,
  events: { onBytes: (n: number) => void; onStage: OnStage; signal?: AbortSignal | undefined; retryDelayMs?: number; omitted?: ReadonlySet<string> },
): Promise<void> {
  const { signal } = events;
  let counted = 0;
  for (let attempt = 1; ; attempt++) {
    let sent = 0;
    const reader = await BundleReader.open(bundle);
    try {
      const onBytes = (n: number) => {
        sent += n;
        if (sent > counted) {
          events.onBytes(sent - counted);
          counted = sent;
        }
      };
      await driver.inject(reader, images, platform, { onBytes, signal, ...(events.omitted ? { omitted: events.omitted } : {}) });
      return;
    } catch (error) {
      if (!(error instanceof ExecConnectionError) || attempt >= INJECT_ATTEMPTS || signal?.aborted) throw error;
      events.onStage(`connection dropped; streaming again (attempt ${attempt + 1} of ${INJECT_ATTEMPTS})`);
      await sleep((events.retryDelayMs ?? 2_000) * attempt, signal);
    } finally {
      await reader.close();
    }
  }
}
