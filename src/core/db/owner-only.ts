/**
 * The embedded data directory holds every password hash and session token
 * hash: like PostgreSQL's PGDATA it is owner-only, directories 0700 and
 * files 0600. PGlite writes the files of a new cluster 0666 whatever the
 * umask, so this is applied to the whole tree, not left to the umask.
 */
import { chmodSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

const DIRECTORY_MODE = 0o700;
const FILE_MODE = 0o600;

/** chmods root and everything below it; symbolic links are neither changed nor followed. */
export function makeOwnerOnly(root: string): void {
  const visit = (path: string): void => {
    let stat;
    try {
      stat = lstatSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return; // removed meanwhile (a temp file)
      throw error;
    }
    if (stat.isSymbolicLink()) return;
    const wanted = stat.isDirectory() ? DIRECTORY_MODE : FILE_MODE;
    if ((stat.mode & 0o777) !== wanted) chmodSync(path, wanted);
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(root);
}

/** Runs `open` with umask 077, so what it creates is owner-only from the start; the old umask is put back after. */
export async function withOwnerOnlyUmask<T>(open: () => Promise<T>): Promise<T> {
  const previous = process.umask(0o077);
  try {
    return await open();
  } finally {
    process.umask(previous);
  }
}
