/**
 * What each provider type starts from (SPEC §10): Google is an OpenID Connect
 * issuer found by discovery; GitHub is plain OAuth 2.0 plus its REST API
 * (`/user`, `/user/emails`). Every endpoint may be overridden per provider,
 * which is also how GitHub Enterprise Server is set up.
 */
export const PROVIDER_TYPES = ["oidc", "github", "google"] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

export interface Preset {
  displayName: string | null;
  issuer: string | null;
  authorizationUrl: string | null;
  tokenUrl: string | null;
  userinfoUrl: string | null;
  scopes: string[];
}

export const PRESETS: Record<ProviderType, Preset> = {
  oidc: { displayName: null, issuer: null, authorizationUrl: null, tokenUrl: null, userinfoUrl: null, scopes: ["openid", "email", "profile"] },
  google: {
    displayName: "Google",
    issuer: "https://accounts.google.com",
    authorizationUrl: null,
    tokenUrl: null,
    userinfoUrl: null,
    scopes: ["openid", "email", "profile"],
  },
  github: {
    displayName: "GitHub",
    issuer: null,
    authorizationUrl: "https://github.com/login/oauth/authorize",
    tokenUrl: "https://github.com/login/oauth/access_token",
    userinfoUrl: "https://api.github.com/user",
    scopes: ["read:user", "user:email"],
  },
};

/** GitHub's list of the user's addresses sits beside `/user`: `<userinfo>/emails` (also on GitHub Enterprise's /api/v3). */
export function githubEmailsUrl(userinfoUrl: string): string {
  return `${userinfoUrl.replace(/\/$/, "")}/emails`;
}
