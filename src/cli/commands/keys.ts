import { Command } from "commander";
import { CLI_ACTOR } from "../../core/audit/actor.ts";
import { KEY_WATCH_MS } from "../../core/tokens/key-watcher.ts";
import { rotateKeys } from "../../core/tokens/rotation.ts";
import type { ProgramContext } from "../context.ts";
import { humanDuration } from "../format.ts";
import type { CoreCommand } from "../types.ts";
import { OperationalError, UsageError } from "../io.ts";
import { askConfirm } from "../prompts.ts";

export const keysRotate: CoreCommand<{ json: boolean; revokePrevious: boolean }> = {
  name: "keys rotate",
  allowedViaServer: true,
  async run(ctx, { json, revokePrevious }) {
    const core = await ctx.core();
    if (core.config.jwtSecret) {
      throw new OperationalError("USERSVC_JWT_SECRET is set (HS256): there are no signing keys to rotate; change the secret instead");
    }
    const { kid, retiredVerifyForSeconds } = await rotateKeys(core, CLI_ACTOR, { revokePrevious });
    const text = revokePrevious
      ? `New signing key ${kid}; every earlier key is revoked: their tokens are refused on every instance within ${humanDuration(KEY_WATCH_MS / 1000)}`
      : `New signing key ${kid}; earlier keys keep verifying for ${humanDuration(retiredVerifyForSeconds)}`;
    ctx.out.stdout(json ? JSON.stringify({ kid, revoked_previous: revokePrevious }) : text);
    return 0;
  },
};

export function keysCommand(ctx: ProgramContext): Command {
  const rotate = new Command("rotate")
    .description("make new signing keys (EdDSA for tokens, RS256 for id_tokens); earlier keys stay in the JWKS and keep verifying until their tokens expire")
    .option("--revoke-previous", "a leaked key: delete every earlier key at once, so every token they signed stops working (all users sign in again)")
    .option("--yes", "with --revoke-previous: do not ask; required without a terminal")
    .option("--json", "print {kid, revoked_previous} as JSON")
    .action(async (options: { json?: boolean; revokePrevious?: boolean; yes?: boolean }) => {
      const revokePrevious = Boolean(options.revokePrevious);
      if (revokePrevious && !options.yes) {
        const { io } = ctx;
        if (!io.stdinIsTTY) throw new UsageError("keys rotate --revoke-previous needs --yes when there is no terminal to ask on");
        const question = "Revoke every earlier signing key? Every access and refresh token issued so far stops working: all users must sign in again.";
        if (!(await askConfirm(io, question))) {
          io.stderr("Nothing changed.");
          return ctx.finish(1);
        }
      }
      await ctx.execute(keysRotate, { json: Boolean(options.json), revokePrevious });
    });
  return new Command("keys").description("the token signing keys (not in HS256 mode)").addCommand(rotate);
}
