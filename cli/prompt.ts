/**
 * Questions on the terminal: asked on stderr, answered on stdin with the echo off for secrets.
 * When stdin is not a terminal (a script, a test), each answer is the next line of stdin.
 */
import { createInterface } from 'node:readline';

let piped: AsyncIterator<string> | undefined;

async function nextLine(): Promise<string> {
  piped ??= createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY })[
    Symbol.asyncIterator
  ]();
  const { value, done } = await piped.next();
  if (done) throw new Error('stdin ended before every answer was read');
  return value;
}

function hiddenLine(question: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let answer = '';
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    const done = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(answer);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new Error('interrupted'));
        if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
        else answer += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** Asks one question; `secret` answers are not echoed. */
export async function ask(question: string, options: { secret?: boolean } = {}): Promise<string> {
  if (!process.stdin.isTTY) return (await nextLine()).trim();
  if (options.secret) return (await hiddenLine(question)).trim();
  process.stderr.write(question);
  return (await nextLine()).trim();
}
