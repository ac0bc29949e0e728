/**
 * A minimal client of the V8 inspector protocol for a child process started with `--inspect=127.0.0.1:0`: it
 * forces full garbage collections and reads `process.memoryUsage()` inside the child, so a memory test can
 * measure live memory instead of a heap that still holds garbage.
 */
import WebSocket from 'ws';

export interface ChildMemory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** Of `heapUsed`, the compiled code (V8's code spaces): it grows for minutes as the optimiser warms up. */
  codeUsed: number;
}

export interface InspectorClient {
  /** Runs a full (mark-compact) collection in the child, then reads its memory usage. */
  liveMemory(): Promise<ChildMemory>;
  close(): Promise<void>;
}

/** The inspector's WebSocket address, from the line Node prints on stderr at start-up. */
export function inspectorUrlOf(output: string): string {
  const url = /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1];
  if (!url) throw new Error('the child did not print an inspector address (was it started with --inspect?)');
  return url;
}

/**
 * Connects to the child's inspector. Every call fails (rather than hangs) when the child is gone or does not
 * answer within `timeoutMs`: a soak whose server died of a leak must fail with that, not time out silently.
 */
export async function connectInspector(url: string, timeoutMs = 10_000): Promise<InspectorClient> {
  const socket = new WebSocket(url);
  let lastError: Error | undefined;
  socket.on('error', (error) => {
    lastError = error;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`inspector at ${url} did not answer`)), timeoutMs);
    socket.once('open', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('close', () => {
      clearTimeout(timer);
      reject(lastError ?? new Error(`inspector at ${url} closed the connection`));
    });
  });
  let nextId = 0;
  const pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (message.id === undefined) return; // an event
    const waiter = pending.get(message.id);
    if (message.error) waiter?.reject(new Error(message.error.message));
    else waiter?.resolve(message.result);
  });
  socket.on('close', () => {
    for (const waiter of [...pending.values()]) waiter.reject(new Error('inspector connection closed'));
  });
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      if (socket.readyState !== WebSocket.OPEN) {
        reject(lastError ?? new Error(`inspector connection is not open (the child may have exited)`));
        return;
      }
      const id = ++nextId;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`inspector ${method} did not answer in ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = (then: () => void) => {
        clearTimeout(timer);
        pending.delete(id);
        then();
      };
      pending.set(id, {
        resolve: (result) => settle(() => resolve(result)),
        reject: (error) => settle(() => reject(error)),
      });
      socket.send(JSON.stringify({ id, method, params }), (error) => {
        if (error) pending.get(id)?.reject(error);
      });
    });

  return {
    async liveMemory() {
      await call('HeapProfiler.collectGarbage');
      const result = (await call('Runtime.evaluate', {
        expression: `JSON.stringify({
          ...process.memoryUsage(),
          codeUsed: process.getBuiltinModule('v8').getHeapSpaceStatistics()
            .filter((space) => space.space_name.startsWith('code_'))
            .reduce((sum, space) => sum + space.space_used_size, 0),
        })`,
        returnByValue: true,
      })) as { result: { value: string } };
      return JSON.parse(result.result.value) as ChildMemory;
    },
    async close() {
      if (socket.readyState === WebSocket.CLOSED) return;
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.close();
      await closed;
    },
  };
}
