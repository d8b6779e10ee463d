/**
 * OpenID Connect Discovery 1.0 (and RFC 8414, which reads the same
 * document): the issuer is USERSVC_PUBLIC_URL exactly, and every endpoint
 * lives under it.
 */
import type { Config } from "../../config.ts";
import { ID_TOKEN_ALGS, SCOPES } from "./clients.ts";

/** The provider's endpoints, relative to the public URL. */
export const OIDC_PATHS = {
  authorization: "/oauth/authorize",
  token: "/oauth/token",
  userinfo: "/oauth/userinfo",
  revocation: "/oauth/revoke",
  introspection: "/oauth/introspect",
  endSession: "/oauth/logout",
  jwks: "/.well-known/jwks.json",
} as const;

export function discoveryDocument(config: Config, locales: readonly string[]): Record<string, unknown> {
  const issuer = config.publicUrl;
  const at = (path: string) => `${issuer}${path}`;
  const clientAuth = ["client_secret_basic", "client_secret_post", "none"];
  return {
    issuer,
    authorization_endpoint: at(OIDC_PATHS.authorization),
    token_endpoint: at(OIDC_PATHS.token),
    userinfo_endpoint: at(OIDC_PATHS.userinfo),
    jwks_uri: at(OIDC_PATHS.jwks),
    revocation_endpoint: at(OIDC_PATHS.revocation),
    introspection_endpoint: at(OIDC_PATHS.introspection),
    end_session_endpoint: at(OIDC_PATHS.endSession),
    scopes_supported: [...SCOPES],
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token", "client_credentials"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: [...ID_TOKEN_ALGS],
    token_endpoint_auth_methods_supported: clientAuth,
    revocation_endpoint_auth_methods_supported: clientAuth,
    // A public client (anyone can name one) may not introspect.
    introspection_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    code_challenge_methods_supported: ["S256"],
    prompt_values_supported: ["none", "login", "consent", "select_account"],
    claims_supported: ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid", "at_hash", "email", "email_verified", "preferred_username", "updated_at", "roles"],
    ui_locales_supported: [...locales],
    claims_parameter_supported: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    authorization_response_iss_parameter_supported: true,
    frontchannel_logout_supported: false,
    backchannel_logout_supported: false,
  };
}
