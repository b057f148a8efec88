import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortError, ExitCode } from '../errors.js';
import type { HostShell } from '../host.js';

/** How long a runtime may take to stop and come back before lading gives up waiting. */
const RESTART_TIMEOUT_MS = 180_000;
const POLL_MS = 1_000;

/**
 * Reloads or restarts a runtime's unit on the host; a failure says the configuration is written and what to
 * do by hand.
 *
 * The command runs detached from the exec session that starts it: that session is carried by the very
 * runtime being restarted (CRI-O ends its exec sessions when it stops, and the systemctl inside is killed
 * with them), so lading asks again, over new sessions, for the exit code the detached command left behind.
 */
export async function systemctl(shell: HostShell, how: 'reload' | 'restart', unit: string, label: string, options: { timeoutMs?: number; pollMs?: number; stateDir?: string } = {}): Promise<void> {
  const fail = (detail: string) =>
    new AbortError(`node ${shell.node}: ${how} of ${label} failed: ${detail}`, {
      exitCode: ExitCode.node,
      hint: `The configuration is written (backups under /var/lib/lading/backups); ${how} ${label} on the node by hand.`,
    });
  const id = `${Date.now()}-${randomBytes(4).toString('hex')}`;
  const dir = options.stateDir ?? '/run/lading/systemctl';
  const rc = `${dir}/${id}.rc`;
  const out = `${dir}/${id}.out`;
  const started = await shell.hostExec(
    [
      'command -v systemctl >/dev/null 2>&1 || { echo "no systemctl on the host" >&2; exit 3; }',
      `mkdir -p ${dir}`,
      // setsid: its own session, so neither the end of this exec nor a hang-up takes it along
      `setsid sh -c 'systemctl ${how} ${unit} >${out} 2>&1; echo $? >${rc}.tmp; mv ${rc}.tmp ${rc}' </dev/null >/dev/null 2>&1 &`,
    ].join('\n'),
  );
  if (started.exitCode !== 0) throw fail((started.stderr || started.message).trim());

  const deadline = Date.now() + (options.timeoutMs ?? RESTART_TIMEOUT_MS);
  let lastProblem = '';
  for (;;) {
    await sleep(options.pollMs ?? POLL_MS);
    try {
      // While the runtime is down, the exec itself fails: that is the restart under way, not its result.
      const probe = await shell.hostExec(`if [ -f ${rc} ]; then cat ${rc}; echo; cat ${out} 2>/dev/null; rm -f ${rc} ${out}; else echo pending; fi`);
      if (probe.exitCode === 0) {
        const [first = '', ...rest] = probe.stdout.split('\n');
        if (first.trim() !== 'pending') {
          const code = Number(first.trim());
          if (code === 0) return;
          throw fail(rest.join('\n').trim() || `systemctl exited ${first.trim()}`);
        }
        lastProblem = '';
      } else {
        lastProblem = (probe.stderr || probe.message).trim();
      }
    } catch (error) {
      if (error instanceof AbortError) throw error;
      lastProblem = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) {
      throw fail(`no result within ${Math.round((options.timeoutMs ?? RESTART_TIMEOUT_MS) / 1000)} s${lastProblem ? ` (last: ${lastProblem})` : ''}`);
    }
  }
}
