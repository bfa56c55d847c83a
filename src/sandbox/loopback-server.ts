/**
 * Starts a stand-in's HTTP server on loopback and gives back its base URL and an idempotent close.
 */
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LoopbackServer {
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  close(): Promise<void>;
}

/** Resolves once the server listens (port 0: a free one). */
export async function listenOnLoopback(handler: RequestListener, options: { port?: number; host?: string } = {}): Promise<LoopbackServer> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    base: `http://${address}:${port}`,
    // closeAllConnections: clients keep sockets alive, and close() alone would wait for them.
    close: () => (closing ??= new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); })),
  };
}
