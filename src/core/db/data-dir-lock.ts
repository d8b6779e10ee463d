/**
 * An exclusive lock on the embedded data directory. PGlite has no
 * cross-process locking and two writers silently lose data, so every
 * process that opens the directory holds this lock for as long as it does.
 *
 * flock(2) through bun:ffi: the kernel drops the lock when the process dies,
 * even on kill -9, so a crash never leaves a stale lock behind.
 */
import { dlopen, FFIType } from "bun:ffi";
import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const LOCK_EX = 2;
const LOCK_NB = 4;

let libc: { symbols: { flock: (fd: number, op: number) => number } } | null = null;

function flock(fd: number, operation: number): boolean {
  libc ??= dlopen(process.platform === "darwin" ? "libc.dylib" : "libc.so.6", {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  });
  return libc.symbols.flock(fd, operation) === 0;
}

export interface DataDirLock {
  release(): void;
}

export function lockFilePath(dataDir: string): string {
  return join(dataDir, "usersvc.lock");
}

/** Returns the lock, or null when another live process holds it. */
export function tryLockDataDir(dataDir: string): DataDirLock | null {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // PGlite writes its files world-writable; like PostgreSQL, keep PGDATA owner-only whatever it was made with.
  chmodSync(dataDir, 0o700);
  const path = lockFilePath(dataDir);
  const fd = openSync(path, "a+", 0o600);
  fchmodSync(fd, 0o600); // the mode above applies only when the file is new
  if (!flock(fd, LOCK_EX | LOCK_NB)) {
    closeSync(fd);
    return null;
  }
  writeFileSync(path, `${process.pid}\n`);
  return {
    release(): void {
      closeSync(fd); // closing the descriptor releases the flock
    },
  };
}

/** The pid written by the current holder, for messages only. */
export function readLockHolder(dataDir: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(lockFilePath(dataDir), "utf8"), 10);
    return Number.isFinite(pid) ? pid : null;
  } catch {
    return null;
  }
}
