// Wakes change-feed long polls when a root's contents change. The app calls notify(rootId)
// after every successful mutating request under /api/2/files/<root_id>/, i.e. once the
// change is committed; waiters then read the new rows by sequence number.
import { EventEmitter } from 'node:events';

export class ChangeHub {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  notify(rootId: number): void {
    this.emitter.emit(String(rootId));
  }

  /** Resolves true on the next change of `rootId`, false after `ms` or when `signal` aborts. */
  wait(rootId: number, ms: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const key = String(rootId);
      const done = (changed: boolean) => {
        clearTimeout(timer);
        this.emitter.off(key, onChange);
        signal?.removeEventListener('abort', onAbort);
        resolve(changed);
      };
      const onChange = () => done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      this.emitter.on(key, onChange);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
