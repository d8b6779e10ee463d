import { Command } from "commander";
import { rotateSigningKeys } from "../../core/auth/signing-keys.ts";
import type { ProgramContext } from "../context.ts";
import type { CoreCommand } from "../core-command.ts";
import { OperationalError } from "../io.ts";

export const keysRotate: CoreCommand<{ json: boolean }> = {
  name: "keys rotate",
  allowedViaServer: true,
  async run(ctx, { json }) {
    const core = await ctx.core();
    if (core.config.jwtSecret) {
      throw new OperationalError("USERSVC_JWT_SECRET is set (HS256): there are no signing keys to rotate; change the secret instead");
    }
    const kid = await rotateSigningKeys(core.db, core.now());
    await core.tokens.reload();
    const keep = Math.max(core.config.accessTtl, core.config.refreshTtl);
    ctx.out.stdout(json ? JSON.stringify({ kid }) : `New signing key ${kid}; earlier keys keep verifying for ${keep} s`);
    return 0;
  },
};

export function keysCommand(ctx: ProgramContext): Command {
  const rotate = new Command("rotate")
    .description("make a new signing key; earlier keys stay in the JWKS and keep verifying until their tokens expire")
    .option("--json", "print {kid} as JSON")
    .action((options: { json?: boolean }) => ctx.execute(keysRotate, { json: Boolean(options.json) }));
  return new Command("keys").description("the token signing keys (EdDSA mode)").addCommand(rotate);
}
