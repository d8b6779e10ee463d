/** A provider sign-in refused for a reason the page words in the person's language (SPEC §10 linking rules). */
import { DomainError, type ErrorCode } from "../errors.ts";

/** Why a provider's callback was refused, for the page to say in the person's language. */
export type RefusalReason = "failed" | "email_exists" | "no_email" | "other_user" | "other_identity" | "link_session" | "link_unverified" | "unknown_login";

export class ProviderRefusal extends DomainError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly reason: RefusalReason,
    readonly provider: string | null,
  ) {
    super(code, message);
  }
}
