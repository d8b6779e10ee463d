/**
 * OAuth 2.0 errors (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1): the protocol's
 * own `{error, error_description}`, not usersvc's envelope, because every
 * standard client reads these.
 */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "unsupported_response_type"
  | "invalid_scope"
  | "access_denied"
  | "login_required"
  | "consent_required"
  | "interaction_required"
  | "request_not_supported"
  | "request_uri_not_supported"
  | "invalid_token"
  | "insufficient_scope"
  | "server_error";

export class OAuthError extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    /** The HTTP status when answered directly (not through a redirect). */
    readonly status = error === "invalid_client" || error === "invalid_token" ? 401 : error === "insufficient_scope" ? 403 : 400,
  ) {
    super(description);
    this.name = "OAuthError";
  }

  toJSON(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.description };
  }
}
