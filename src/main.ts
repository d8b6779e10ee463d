#!/usr/bin/env bun
/** Entry point of the usersvc binary; the only place that calls process.exit. */
import { runCli } from "./cli/program.ts";
import { processIo } from "./cli/io.ts";

const code = await runCli(process.argv.slice(2), processIo());
process.exit(code);
