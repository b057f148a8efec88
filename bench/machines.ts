/**
 * Machines of their own for the parts of the two-node test cluster, emulated on this one machine with CPU
 * caps (CFS quotas): each node (its daemons and everything its kubelet runs), the control plane (API
 * server, etcd, controller manager, scheduler) and lading each get an equal share of the machine's cores.
 * The caps add up to the cores, so each part can always use all of its own share and none can take CPU
 * from another, as on a real cluster whose nodes, control plane and operator's machine are separate
 * machines. What the parts still share is what a real cluster shares: the API server's path.
 *
 * The kubelets put their pods under /lading/<node> (test/cluster/lib.sh, CGROUP_ROOT_NAME): a node's cap
 * is set there and its daemons are moved into /lading/<node>/daemons, so one cap holds the whole node,
 * whatever it starts later. `restore` moves every process back where it was and removes the caps.
 */
import { mkdirSync, readFileSync, readdirSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The node keys of the two-node test cluster. */
export type NodeKey = 'containerd' | 'crio';

interface Hierarchy {
  /** Where the cpu controller's hierarchy is mounted. */
  mount: string;
  v2: boolean;
}

/** The cpu controller's hierarchy: cgroup v1's cpu mount if there is one (a v1 kubelet uses it), else v2. */
function cpuHierarchy(): Hierarchy {
  let v2: string | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mount = left.split(' ')[4]!;
    const [type, , options = ''] = right.split(' ');
    if (type === 'cgroup' && options.split(',').includes('cpu')) return { mount, v2: false };
    if (type === 'cgroup2' && mount === '/sys/fs/cgroup') v2 = mount;
  }
  if (v2) return { mount: v2, v2: true };
  throw new Error('no cgroup cpu controller is mounted: --machines needs one (cgroup v1 "cpu" or cgroup v2 at /sys/fs/cgroup)');
}

/** The cgroup path of a process in the hierarchy, or undefined when it is gone. */
function cgroupOf(pid: number, hierarchy: Hierarchy): string | undefined {
  try {
    for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
      const [, controllers = '', path] = line.split(':');
      if (path === undefined) continue;
      if (hierarchy.v2 ? line.startsWith('0::') : controllers.split(',').includes('cpu')) return path;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** Every process in the PID namespace of a test node (its init's pid file: test/cluster/lib.sh). */
export function nodeProcesses(state: string, key: NodeKey): number[] {
  const init = Number(readFileSync(join(state, 'nodes', key, 'init.pid'), 'utf8').split(' ')[0]);
  const namespace = readlinkSync(`/proc/${init}/ns/pid`);
  const inside = (pid: number) => {
    try {
      return readlinkSync(`/proc/${pid}/ns/pid`) === namespace;
    } catch {
      return false; // gone meanwhile
    }
  };
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter(inside);
}

export interface Machines {
  /** Each part's cap, in cores. */
  readonly cores: number;
  /** The argv that runs `command` on lading's machine (inside its cap). */
  onLadingMachine(command: string, args: string[]): [string, string[]];
  /** The argv that runs `command` on a node's machine, as started from outside it (a peer run on the node). */
  onNodeMachine(key: NodeKey, command: string, args: string[]): [string, string[]];
  restore(): void;
}

/** Starts `command` after moving its shell into the cgroup `dir`; `exec` keeps the pid, so its children follow. */
function inCgroup(dir: string, command: string, args: string[]): [string, string[]] {
  return ['sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, command, ...args]];
}

export function splitIntoMachines(state: string, coreCount: number): Machines {
  const hierarchy = cpuHierarchy();
  const cores = coreCount / 4; // two nodes, the control plane, lading
  const period = 100_000;
  const quota = Math.round(cores * period);
  const made: string[] = []; // created here, removed by restore (deepest last in, first out)
  const capped: string[] = []; // caps set here
  const moved = new Map<number, string>(); // pid -> the cgroup it came from

  const dirOf = (path: string) => join(hierarchy.mount, path);
  const make = (path: string) => {
    const dir = dirOf(path);
    mkdirSync(dir, { recursive: true });
    made.push(dir);
    return dir;
  };
  const cap = (dir: string) => {
    if (hierarchy.v2) writeFileSync(join(dir, 'cpu.max'), `${quota} ${period}`);
    else {
      writeFileSync(join(dir, 'cpu.cfs_period_us'), String(period));
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quota));
    }
    capped.push(dir);
  };
  const move = (pid: number, dir: string) => {
    const from = cgroupOf(pid, hierarchy);
    if (from === undefined) return;
    try {
      writeFileSync(join(dir, 'cgroup.procs'), String(pid));
      moved.set(pid, from);
    } catch (error) {
      // ESRCH: gone meanwhile; EINVAL: a kernel thread, which no cgroup can take
      if (!['ESRCH', 'EINVAL'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    }
  };

  const restore = () => {
    // what moved back where it came from; what started inside meanwhile (a restarted daemon) to the top
    const inside = made.flatMap((dir) => {
      try {
        return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      } catch {
        return [];
      }
    });
    for (const pid of new Set([...moved.keys(), ...inside])) {
      try {
        writeFileSync(join(dirOf(moved.get(pid) ?? '/'), 'cgroup.procs'), String(pid));
      } catch {
        // gone, or its old cgroup is: it stays where it is
      }
    }
    for (const dir of capped) {
      try {
        if (hierarchy.v2) writeFileSync(join(dir, 'cpu.max'), `max ${period}`);
        else writeFileSync(join(dir, 'cpu.cfs_quota_us'), '-1');
      } catch {
        // removed meanwhile (test/cluster/down)
      }
    }
    for (const dir of made.reverse()) {
      try {
        rmdirSync(dir);
      } catch {
        // not empty (a node's root keeps its pods) or gone
      }
    }
  };

  const nodeDaemons: Record<NodeKey, string> = { containerd: '', crio: '' };
  try {
    for (const key of ['containerd', 'crio'] as const) {
      const root = `/lading/${key}`;
      cap(dirOf(root)); // made by test/cluster/up, the kubelet's cgroup root: not removed here
      nodeDaemons[key] = make(`${root}/daemons`);
      for (const pid of nodeProcesses(state, key)) {
        // what the kubelet started already sits under the node's root
        if (!(cgroupOf(pid, hierarchy) ?? root).startsWith(`${root}/`)) move(pid, nodeDaemons[key]);
      }
    }
    const control = make('/lading-bench-control');
    cap(control);
    for (const file of readdirSync(join(state, 'run')).filter((f) => f.endsWith('.pid'))) {
      move(Number(readFileSync(join(state, 'run', file), 'utf8').split(/\s/)[0]), control);
    }
    const lading = make('/lading-bench-lading');
    cap(lading);
    return {
      cores,
      onLadingMachine: (command, args) => inCgroup(lading, command, args),
      onNodeMachine: (key, command, args) => inCgroup(nodeDaemons[key], command, args),
      restore,
    };
  } catch (error) {
    restore();
    throw error;
  }
}
