// Last words of an agent that meets an error nothing handles (a bug). The process still ends:
// carrying on after an unknown failure could leave the engine in a state nobody reasoned about,
// while a restart is always safe (the state is in SQLite, one transaction per finished
// operation; downloads are written to temp files and renamed into place when complete). What
// this adds is one line in the agent's own log that says what happened and what to do.
import { pino, type Logger } from 'pino';

export const FATAL_MESSAGE =
  'The agent stopped on an unexpected error (a bug: please report this log). Nothing synced is lost: ' +
  'its state is in its database and downloads go to temp files first. Start it again (axis-agent run; ' +
  'the desktop app does so by itself) and it picks up where it stopped.';

/**
 * Logs an uncaught exception or unhandled rejection at `fatal` before Node ends the process (a
 * monitor: Node's own report and exit code stay as they are). `flushSync` is the log
 * destination's, so the line is written before the process goes.
 */
export function reportFatalErrors(log: Logger, destination?: { flushSync?: () => void }): void {
  process.on('uncaughtExceptionMonitor', (err, origin) => {
    try {
      log.fatal({ err, origin }, FATAL_MESSAGE);
      destination?.flushSync?.();
    } catch {
      // Logging failed too: Node still prints the error and exits.
    }
  });
}

/** The agent process's logger (JSON lines on stderr) with reportFatalErrors installed. */
export function agentLogger(level: string): Logger {
  const destination = pino.destination(2);
  const log = pino({ level }, destination);
  reportFatalErrors(log, destination);
  return log;
}
