/**
 * examples/apps/python-pyjwt-api/server.py under CPython, against a usersvc
 * issuer: the token rules of tests/examples/api-contract.ts. The Python is
 * a virtualenv made here from /usr/bin/python3 with --system-site-packages
 * (so Debian's python3-jwt and python3-cryptography serve), with
 * requirements.txt installed into it only when that Python lacks PyJWT;
 * without a Python that has PyJWT >= 2.6 and cryptography, the tests are
 * skipped, saying why.
 */
import { afterAll, setDefaultTimeout } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describeTokenApi } from "./api-contract.ts";
import { startExample } from "./child-process.ts";

// More than bun's 5 s default: usersvc on a real database and two Python processes start first, and every sign-in hashes a password.
setDefaultTimeout(60_000);

const EXAMPLE = resolve(import.meta.dir, "../../examples/apps/python-pyjwt-api");
const BASE_PYTHONS = ["/usr/bin/python3", Bun.which("python3")].filter((path, i, all): path is string => !!path && all.indexOf(path) === i);
const CHECK = [
  "import sys, jwt, cryptography",
  "from jwt.algorithms import OKPAlgorithm",
  "major, minor = (int(part) for part in jwt.__version__.split('.')[:2])",
  "sys.exit(0 if (major, minor) >= (2, 6) else 3)",
].join("\n");

interface PythonFound {
  python: string | null;
  /** What was tried, for the skip message. */
  tried: string[];
  venv: string | null;
}

function run(cmd: string[], timeoutMs = 60_000): { ok: boolean; output: string } {
  const result = Bun.spawnSync({ cmd, stdout: "pipe", stderr: "pipe", timeout: timeoutMs, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", PIP_DISABLE_PIP_VERSION_CHECK: "1" } });
  return { ok: result.exitCode === 0, output: `${result.stdout.toString()}${result.stderr.toString()}`.trim() };
}

/** A virtualenv whose Python imports PyJWT >= 2.6 with cryptography, or why there is none. */
function findPython(): PythonFound {
  const tried: string[] = [];
  for (const base of BASE_PYTHONS) {
    const venv = mkdtempSync(join(tmpdir(), "usersvc-pyjwt-"));
    const python = join(venv, "bin", "python");
    const created = run([base, "-m", "venv", "--system-site-packages", "--without-pip", venv]);
    if (!created.ok || !existsSync(python)) {
      tried.push(`${base} -m venv failed: ${created.output.split("\n").pop()}`);
      rmSync(venv, { recursive: true, force: true });
      continue;
    }
    if (run([python, "-c", CHECK]).ok) return { python, tried, venv };
    // PyPI may be out of reach (no network): a bounded attempt, then the next Python.
    const pip = run([python, "-m", "ensurepip"], 120_000);
    const install = pip.ok ? run([python, "-m", "pip", "install", "--retries", "0", "--timeout", "15", "-r", join(EXAMPLE, "requirements.txt")], 180_000) : pip;
    if (install.ok && run([python, "-c", CHECK]).ok) return { python, tried, venv };
    tried.push(`${base}: no PyJWT >= 2.6 with cryptography, and pip install -r requirements.txt failed: ${install.output.split("\n").pop()}`);
    rmSync(venv, { recursive: true, force: true });
  }
  return { python: null, tried, venv: null };
}

const found = findPython();
const skip = found.python ? null : `no Python with PyJWT >= 2.6 and cryptography (apt-get install python3-venv python3-jwt python3-cryptography, or pip install -r requirements.txt): ${found.tried.join("; ") || "no python3 found"}`;
if (skip) console.warn(`tests/examples/python-pyjwt-api.test.ts: skipped, ${skip}`);
afterAll(() => {
  if (found.venv) rmSync(found.venv, { recursive: true, force: true });
});

describeTokenApi({
  name: "examples/apps/python-pyjwt-api",
  skip,
  start: (env, port) => startExample("python-pyjwt-api", [found.python!, join(EXAMPLE, "server.py")], { port, env: { ...env, PYTHONUNBUFFERED: "1" } }),
});
