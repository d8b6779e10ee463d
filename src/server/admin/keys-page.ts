/** /admin/keys: the signing keys, rotation (the same as `usersvc keys rotate`) and rotation that revokes the previous keys. */
import { DomainError } from "../../core/errors.ts";
import { rotateKeys } from "../../core/tokens/rotation.ts";
import { keyRetentionSeconds, listSigningKeys } from "../../core/tokens/signing-keys.ts";
import { type AdminCall, type AdminRouter, askFirst, noticeOf, redirectDone, renderAdmin } from "./admin-router.ts";
import { ageOf, utc } from "./time-text.ts";

const NOTICES = {
  rotated: "New signing keys are in use. The previous keys keep verifying the tokens they signed until those expire.",
  revoked: "New signing keys are in use. The previous keys are deleted: every token they signed is refused.",
};

const USE: Record<string, string> = { EdDSA: "usersvc's tokens and access tokens", RS256: "OpenID Connect id_tokens" };

async function showKeys(admin: AdminCall): Promise<Response> {
  const { call } = admin;
  const core = call.pages.core;
  if (!core.tokens.asymmetric) return renderAdmin(admin, "admin-keys", "keys", { asymmetric: false, keys: [], notice: null });
  const now = core.now();
  const retentionMs = keyRetentionSeconds(core.config) * 1000;
  const keys = (await listSigningKeys(core.db)).map((key) => {
    const verifiesUntil = key.retiredAt ? new Date(key.retiredAt.getTime() + retentionMs) : null;
    const state = !key.retiredAt
      ? "current: signs and verifies"
      : verifiesUntil! > now
        ? `retired: verifies until ${utc(verifiesUntil!)} UTC`
        : "retired: no longer verifies";
    return { kid: key.kid, alg: key.alg, use: USE[key.alg] ?? key.alg, created: utc(key.createdAt), createdIso: key.createdAt.toISOString(), age: ageOf(key.createdAt, now), current: !key.retiredAt, state };
  });
  return renderAdmin(admin, "admin-keys", "keys", { asymmetric: true, keys, notice: noticeOf(call, NOTICES) });
}

function requireKeys(admin: AdminCall): void {
  if (!admin.call.pages.core.tokens.asymmetric) {
    throw new DomainError("FORBIDDEN", "This server signs with a shared secret (USERSVC_JWT_SECRET): there are no signing keys to rotate.");
  }
}

export function keysRoutes(router: AdminRouter): void {
  router.page("/admin/keys", showKeys);
  router.action("/admin/keys/rotate", async (admin) => {
    requireKeys(admin);
    await rotateKeys(admin.call.pages.core, admin.actor, { revokePrevious: false });
    return redirectDone(admin.call, admin.call.url("/admin/keys"), "rotated");
  });
  router.action("/admin/keys/rotate-revoke", async (admin) => {
    requireKeys(admin);
    const ask = askFirst(
      admin,
      {
        title: "Rotate and revoke the previous keys?",
        paragraphs: [
          "New signing keys replace the current ones and every previous key is deleted at once.",
          "Every token issued so far stops working: access and refresh tokens, id_tokens. Every app and API client must sign in again; OIDC clients must send their users through sign-in again.",
          "Browser sessions on usersvc's own pages (this console included) are not tokens: they stay signed in.",
          "Do this when a key may have leaked. For routine rotation use “Rotate keys”, which keeps the old keys verifying until their tokens expire.",
        ],
        confirmLabel: "Rotate and revoke",
      },
      "keys",
    );
    if (ask) return ask;
    await rotateKeys(admin.call.pages.core, admin.actor, { revokePrevious: true });
    return redirectDone(admin.call, admin.call.url("/admin/keys"), "revoked");
  });
}
