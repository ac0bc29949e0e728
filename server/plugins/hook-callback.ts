/**
 * Runs an async hook body from a callback-style Fastify hook (which costs no promise on the routes that skip it).
 * A rejection always reaches `done` as an Error: `done(undefined)` or `done(null)` would let the request go on,
 * so a body that rejects with a falsy or non-Error value (a dependency's `throw undefined`) must not pass.
 */
import type { HookHandlerDoneFunction } from 'fastify';

export function settleHook(work: Promise<unknown>, done: HookHandlerDoneFunction): void {
  work.then(
    () => done(),
    (error: unknown) => done(error instanceof Error ? error : new Error(`hook rejected with ${describe(error)}`)),
  );
}

/** A rejection reason as text; never throws (String() does on an object without a prototype). */
function describe(reason: unknown): string {
  try {
    return String(reason);
  } catch {
    return typeof reason;
  }
}
