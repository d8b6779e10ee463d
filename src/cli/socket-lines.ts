/**
 * Newline-delimited messages over a Bun socket, both ways. Bun's
 * socket.write() writes what the kernel takes and returns how much that was;
 * the rest must be written again on `drain`, or a large answer (an export)
 * is cut short. Chunks arrive cut anywhere, a UTF-8 character included, so
 * lines are split on the newline byte and decoded whole.
 */
import type { Socket } from "bun";

export interface LineWriter {
  write(line: string): void;
  /** Closes the socket once everything written so far has gone out. */
  end(): void;
  /** For the socket's `drain` handler. */
  drain(): void;
}

export function lineWriter(socket: Socket<undefined>): LineWriter {
  const queue: Buffer[] = [];
  let ending = false;
  const flush = (): void => {
    while (queue.length > 0) {
      const head = queue[0]!;
      const written = socket.write(head);
      if (written < head.length) {
        queue[0] = head.subarray(Math.max(written, 0));
        return;
      }
      queue.shift();
    }
    if (ending) socket.end();
  };
  return {
    write(line) {
      queue.push(Buffer.from(`${line}\n`));
      if (queue.length === 1) flush();
    },
    end() {
      ending = true;
      if (queue.length === 0) socket.end();
    },
    drain: flush,
  };
}

export interface LineReader {
  push(chunk: Uint8Array): void;
  /** What came after the last newline (a peer that closed without one). */
  rest(): string;
}

export function lineReader(onLine: (line: string) => void): LineReader {
  let parts: Buffer[] = [];
  return {
    push(chunk) {
      // Copied: the runtime may reuse the chunk's memory after the callback.
      const bytes = Buffer.from(chunk);
      let start = 0;
      let newline = bytes.indexOf(0x0a, start);
      while (newline !== -1) {
        parts.push(bytes.subarray(start, newline));
        const line = Buffer.concat(parts).toString("utf8");
        parts = [];
        onLine(line);
        start = newline + 1;
        newline = bytes.indexOf(0x0a, start);
      }
      if (start < bytes.length) parts.push(bytes.subarray(start));
    },
    rest: () => Buffer.concat(parts).toString("utf8"),
  };
}
