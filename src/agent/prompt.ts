// Asking the user: visible answers (username, codes), hidden ones (password) when stdin is a
// terminal. When stdin is not a terminal, answers are read line by line from it, in order,
// so scripts and tests can pipe them ("user\npassword\n123456\n").
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import type { ReadStream } from 'node:tty';

export interface Prompter {
  /** Asks for a visible answer; undefined when the input has ended. */
  ask(question: string): Promise<string | undefined>;
  /** Asks for a hidden answer (no echo on a terminal); undefined when the input has ended. */
  askSecret(question: string): Promise<string | undefined>;
  /** Releases stdin (call once done, so the process can exit). */
  close(): void;
}

export class InterruptedError extends Error {
  constructor() {
    super('Interrupted');
    this.name = 'InterruptedError';
  }
}

export function createPrompter(input: Readable = process.stdin, output: NodeJS.WritableStream = process.stdout): Prompter {
  const tty = input as Partial<ReadStream>;
  if (tty.isTTY && typeof tty.setRawMode === 'function') return new TtyPrompter(input as ReadStream, output);
  return new LinePrompter(input, output);
}

/** Answers are lines of a pipe or file. */
class LinePrompter implements Prompter {
  private rl?: readline.Interface;
  private readonly lines: string[] = [];
  private readonly waiting: Array<(line: string | undefined) => void> = [];
  private ended = false;

  constructor(
    private readonly input: Readable,
    private readonly output: NodeJS.WritableStream,
  ) {}

  private start(): void {
    if (this.rl) return;
    this.rl = readline.createInterface({ input: this.input, terminal: false, crlfDelay: Infinity });
    this.rl.on('line', (line) => {
      const w = this.waiting.shift();
      if (w) w(line);
      else this.lines.push(line);
    });
    this.rl.on('close', () => {
      this.ended = true;
      for (const w of this.waiting.splice(0)) w(undefined);
    });
  }

  private next(): Promise<string | undefined> {
    this.start();
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async ask(question: string): Promise<string | undefined> {
    this.output.write(question);
    const answer = await this.next();
    this.output.write('\n');
    return answer;
  }

  askSecret(question: string): Promise<string | undefined> {
    return this.ask(question);
  }

  close(): void {
    this.rl?.close();
    this.input.pause();
  }
}

/** An interactive terminal. */
class TtyPrompter implements Prompter {
  constructor(
    private readonly input: ReadStream,
    private readonly output: NodeJS.WritableStream,
  ) {}

  ask(question: string): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const rl = readline.createInterface({ input: this.input, output: this.output, terminal: true });
      let answered = false;
      rl.on('SIGINT', () => {
        rl.close();
        reject(new InterruptedError());
      });
      rl.on('close', () => {
        if (!answered) resolve(undefined);
      });
      rl.question(question, (answer) => {
        answered = true;
        rl.close();
        resolve(answer);
      });
    });
  }

  askSecret(question: string): Promise<string | undefined> {
    const input = this.input;
    const output = this.output;
    output.write(question);
    return new Promise((resolve, reject) => {
      let value = '';
      const wasRaw = input.isRaw;
      input.setRawMode(true);
      input.setEncoding('utf8');
      input.resume();
      const finish = (fn: () => void) => {
        input.removeListener('data', onData);
        input.setRawMode(wasRaw);
        input.pause();
        output.write('\n');
        fn();
      };
      const onData = (chunk: string) => {
        for (const ch of chunk) {
          if (ch === '\r' || ch === '\n') return finish(() => resolve(value));
          if (ch === '\u0003') return finish(() => reject(new InterruptedError()));
          if (ch === '\u0004') {
            if (value === '') return finish(() => resolve(undefined));
            continue;
          }
          if (ch === '\u007f' || ch === '\b') {
            value = Array.from(value).slice(0, -1).join('');
            continue;
          }
          if (ch < ' ') continue;
          value += ch;
        }
      };
      input.on('data', onData);
    });
  }

  close(): void {
    this.input.pause();
  }
}
