/**
 * Offline lookup of breached passwords in a Have I Been Pwned "ordered by
 * hash" file (USERSVC_BREACHED_PASSWORDS): one `SHA1:COUNT` line per
 * password, uppercase hex, sorted by hash, CRLF or LF line endings.
 *
 * The real file is ~40 GB, so it is never read whole: a lookup is a binary
 * search over byte offsets, each step one small read at a position of a file
 * handle opened once and kept for the life of the process. From a middle
 * offset, the line that starts after the next newline is the one compared.
 * About 30 reads of 128 bytes and a last one of a few KiB find any hash.
 */
import { createHash } from "node:crypto";
import { type FileHandle, open } from "node:fs/promises";

/** Enough for the newline that ends a line begun before the offset and the 40 digits of the next: lines are ≤ 60 bytes. */
const PROBE_BYTES = 128;
/** Below this many bytes between the bounds, the rest is read in one go and scanned. */
const SCAN_BYTES = 4096;
const HASH_LENGTH = 40;
const NEWLINE = 0x0a;

export interface BreachedPasswordList {
  /** How many times the password appeared in breaches; null when it is not in the file. */
  findBreachCount(password: string): Promise<number | null>;
  /** The same for a SHA-1 given as 40 hex digits, either case. */
  findHashCount(sha1Hex: string): Promise<number | null>;
  close(): Promise<void>;
}

const shared = new Map<string, Promise<BreachedPasswordList>>();

/** The list for `path`, opened on first use and kept open for the process (every core of it shares it). */
export function getBreachedPasswordList(path: string): Promise<BreachedPasswordList> {
  let list = shared.get(path);
  if (!list) {
    list = openBreachedPasswordList(path);
    // A failed open is not kept: the next lookup tries again.
    list.catch(() => shared.delete(path));
    shared.set(path, list);
  }
  return list;
}

/** A list on a handle of its own, which the caller closes. */
export async function openBreachedPasswordList(path: string): Promise<BreachedPasswordList> {
  const handle = await open(path, "r");
  const { size } = await handle.stat();
  return {
    findBreachCount: (password) => findCount(handle, size, createHash("sha1").update(password).digest("hex").toUpperCase()),
    findHashCount: (sha1Hex) => findCount(handle, size, sha1Hex.toUpperCase()),
    close: () => handle.close(),
  };
}

async function findCount(handle: FileHandle, size: number, target: string): Promise<number | null> {
  // Invariant: if the target's line is in the file, it starts at an offset in [low, high).
  let low = 0;
  let high = size;
  const probe = Buffer.allocUnsafe(PROBE_BYTES);
  while (high - low > SCAN_BYTES) {
    const middle = low + Math.floor((high - low) / 2);
    const { bytesRead } = await handle.read(probe, 0, PROBE_BYTES, middle);
    const newline = probe.subarray(0, bytesRead).indexOf(NEWLINE);
    const start = middle + newline + 1;
    if (newline < 0 || start + HASH_LENGTH > middle + bytesRead || start >= high) {
      // No whole line starts in (middle, high): the target, if anywhere, starts at or before middle.
      high = middle + 1;
      continue;
    }
    const hash = probe.toString("latin1", newline + 1, newline + 1 + HASH_LENGTH);
    if (hash === target) return readCount(probe.subarray(newline + 1 + HASH_LENGTH, bytesRead));
    if (hash < target) low = start + 1;
    else high = start;
  }
  return scan(handle, size, low, high, target);
}

/** Reads the lines starting in [low, high) and looks for the target among them. */
async function scan(handle: FileHandle, size: number, low: number, high: number, target: string): Promise<number | null> {
  // One byte before `low` tells whether a line starts right at it.
  const from = Math.max(0, low - 1);
  const length = Math.min(size, high + PROBE_BYTES) - from;
  if (length <= 0) return null;
  const buffer = Buffer.allocUnsafe(length);
  const { bytesRead } = await handle.read(buffer, 0, length, from);
  const lines = buffer.toString("latin1", 0, bytesRead).split("\n");
  // Unless reading from the file's start, the first piece is the end of a line begun earlier.
  for (const line of from === 0 ? lines : lines.slice(1)) {
    if (line.startsWith(target) && line[HASH_LENGTH] === ":") return readCount(Buffer.from(line.slice(HASH_LENGTH), "latin1"));
  }
  return null;
}

/** The count after ":" up to the end of the line; a line without one still counts as a breach. */
function readCount(rest: Buffer): number {
  const match = /^:(\d+)/.exec(rest.toString("latin1"));
  return match ? Number(match[1]) : 1;
}
