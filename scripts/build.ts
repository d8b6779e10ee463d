/**
 * npm run build → dist/usersvc: one self-contained executable. Migrations
 * (a bundle-time macro), PGlite's WASM and data, and the Swagger UI assets
 * are embedded; nothing is read from the source tree at run time.
 * Set USERSVC_BUILD_TARGET (e.g. bun-linux-x64-musl) to cross-compile.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const outfile = process.env.USERSVC_BUILD_OUTFILE ?? join(root, "dist", "usersvc");
const target = process.env.USERSVC_BUILD_TARGET;
mkdirSync(join(outfile, ".."), { recursive: true });

const cmd = [
  process.execPath,
  "build",
  "--compile",
  // Not --minify (nor --minify-whitespace): Elysia reads each handler's source to decide
  // what to parse (sucrose), and on a method like `async resolve({ headers }) {…}` written
  // on one line it misses `headers`, so the auth macro got undefined headers (500 on every
  // protected route, in the binary only).
  "--minify-syntax",
  "--minify-identifiers",
  "--bytecode",
  "--format=esm",
  "--sourcemap",
  // Configuration comes from the environment only; a stray .env or bunfig.toml next to the binary is ignored.
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  ...(target ? [`--target=${target}`] : []),
  join(root, "src", "main.ts"),
  // A worker is an entrypoint of its own (core/passwords/hash-workers.ts starts it).
  join(root, "src", "core", "passwords", "hash-worker.ts"),
  "--outfile",
  outfile,
];
const started = performance.now();
const proc = Bun.spawnSync({ cmd, cwd: root, stdout: "inherit", stderr: "inherit" });
if (proc.exitCode !== 0) process.exit(proc.exitCode ?? 1);
console.error(`built ${outfile} in ${Math.round(performance.now() - started)} ms`);
