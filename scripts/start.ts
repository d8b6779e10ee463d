/**
 * `npm start`: the development entry. Emails go to the log unless
 * USERSVC_SMTP_URL says otherwise, so a newcomer sees the verification link
 * in the terminal; the compiled binary never defaults to this.
 */
process.env.USERSVC_SMTP_URL ??= "log";
await import("../src/main.ts");

export {};
