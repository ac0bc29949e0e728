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

export async function connectInspector(url: string, timeoutMs = 10_000): Promise<InspectorClient> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`inspector at ${url} did not answer`)), timeoutMs);
    socket.once('open', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  let nextId = 0;
  const pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (message.id === undefined) return; // an event
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) waiter?.reject(new Error(message.error.message));
    else waiter?.resolve(message.result);
  });
  socket.on('close', () => {
    for (const waiter of pending.values()) waiter.reject(new Error('inspector connection closed'));
    pending.clear();
  });
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ id, method, params }));
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
