/** @clack/prompts behind a TTY check: with no terminal, never prompt (clack would hang). */
import * as clack from "@clack/prompts";
import { CancelledError, type CliIO, UsageError } from "./io.ts";

export async function askText(io: CliIO, flag: string, message: string, validate?: (v: string) => string | undefined): Promise<string> {
  if (!io.stdinIsTTY) throw new UsageError(`missing ${flag} (no terminal to ask on)`);
  const value = await clack.text({ message, validate: (v) => validate?.(v ?? "") });
  if (clack.isCancel(value)) throw new CancelledError();
  return value;
}

export interface PasswordRules {
  /** Checked as it is typed: a message asks for that password again. */
  validate?: (password: string) => string | undefined;
  /** Checked once it is entered (e.g. a breached-password file): a message is shown and the password asked again. */
  check?: (password: string) => Promise<string | undefined>;
}

export async function askPassword(io: CliIO, message: string, rules: PasswordRules = {}): Promise<string> {
  if (!io.stdinIsTTY) throw new UsageError("missing password: pass --password-stdin and pipe it in (no terminal to ask on)");
  for (;;) {
    const first = await clack.password({
      message,
      validate: (v) => ((v ?? "").length === 0 ? "required" : rules.validate?.(v ?? "")),
    });
    if (clack.isCancel(first)) throw new CancelledError();
    const refused = await rules.check?.(first);
    if (refused) {
      clack.log.error(refused);
      continue;
    }
    const again = await clack.password({ message: "Repeat the password" });
    if (clack.isCancel(again)) throw new CancelledError();
    if (first !== again) throw new UsageError("the passwords do not match");
    return first;
  }
}

export async function askConfirm(io: CliIO, message: string): Promise<boolean> {
  const answer = await clack.confirm({ message, initialValue: false });
  if (clack.isCancel(answer)) throw new CancelledError();
  return answer;
}
