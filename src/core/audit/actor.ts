/** Who did something, as the audit log and events record it. */
export type ActorType = "user" | "admin" | "cli" | "system";

export interface Actor {
  type: ActorType;
  /** The acting user's id; null for the CLI and the system. */
  id: string | null;
  ip: string | null;
}

export const SYSTEM_ACTOR: Actor = { type: "system", id: null, ip: null };
export const CLI_ACTOR: Actor = { type: "cli", id: null, ip: null };

export function userActor(userId: string, ip: string | null): Actor {
  return { type: "user", id: userId, ip };
}

export function adminActor(adminId: string, ip: string | null): Actor {
  return { type: "admin", id: adminId, ip };
}
