/**
 * SIGHUP asks the mount sidecar for a refresh, and Node's default action for SIGHUP ends the process.
 * Before the sidecar installs its own handler it loads its modules (the Azure SDK), its environment and
 * its spec: a SIGHUP in that time (a restarted sidecar signalled at once by whatever asks it to refresh)
 * would end it. So the CLI ignores SIGHUP before it loads the mount command. Nothing is lost: a refresh
 * asked for before the first round is served by that round, which fetches afresh anyway. The listener
 * stays once the command's own handler is installed (it does nothing), so a SIGHUP while the sidecar
 * stops does not end it either. Only the runtime's own start, before any kvsync code runs, is exposed.
 */
function ignoreHangup(): void {
  // Deliberately empty: its presence replaces Node's default action (exit) for SIGHUP.
}

/** Makes SIGHUP harmless for the rest of the process's life; idempotent. */
export function ignoreEarlyHangups(): void {
  if (!process.listeners('SIGHUP').includes(ignoreHangup)) process.on('SIGHUP', ignoreHangup);
}
