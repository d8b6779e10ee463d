/**
 * A throwaway SMTP server for trying hooks locally: accepts every message
 * and prints it. Not for production.
 *   bun examples/hooks/smtp-sink.ts            (listens on 127.0.0.1:1025)
 */
const port = Number(process.env.SMTP_PORT ?? 1025);

interface Session {
  buffer: string;
  inData: boolean;
  message: string[];
}

const sessions = new WeakMap<object, Session>();

Bun.listen<undefined>({
  hostname: "127.0.0.1",
  port,
  socket: {
    open(socket) {
      sessions.set(socket, { buffer: "", inData: false, message: [] });
      socket.write("220 smtp-sink ready\r\n");
    },
    data(socket, chunk) {
      const session = sessions.get(socket)!;
      session.buffer += chunk.toString();
      let end = session.buffer.indexOf("\r\n");
      while (end !== -1) {
        const line = session.buffer.slice(0, end);
        session.buffer = session.buffer.slice(end + 2);
        if (session.inData) {
          if (line === ".") {
            session.inData = false;
            console.log(`----- message -----\n${session.message.join("\n")}\n-------------------`);
            session.message = [];
            socket.write("250 queued\r\n");
          } else {
            session.message.push(line.startsWith("..") ? line.slice(1) : line);
          }
        } else {
          const verb = line.slice(0, 4).toUpperCase();
          if (verb === "DATA") {
            session.inData = true;
            socket.write("354 end with <CRLF>.<CRLF>\r\n");
          } else if (verb === "QUIT") {
            socket.write("221 bye\r\n");
            socket.end();
          } else if (verb === "EHLO") {
            socket.write("250 smtp-sink\r\n");
          } else {
            socket.write("250 ok\r\n");
          }
        }
        end = session.buffer.indexOf("\r\n");
      }
    },
  },
});
console.log(`smtp sink on 127.0.0.1:${port}`);
