/**
 * Telling a person something in Telegram from anywhere (API, workers): a job on the `notify` queue, carrying
 * ids only; the worker role renders the text in the person's language and sends it through the Bot API.
 */
export type NotifyJob =
  | { kind: 'refresh-reuse'; userId: string }
  | { kind: 'role-changed'; userId: string; role: 'admin' | 'user' | 'readonly' }
  | { kind: 'api-key-created'; userId: string; keyId: string }
  | { kind: 'api-key-rotated'; userId: string; keyId: string }
  | { kind: 'api-key-revoked'; userId: string; keyId: string };

export type Notify = (job: NotifyJob) => Promise<void>;
