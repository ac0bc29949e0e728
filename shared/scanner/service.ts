/** What the API and the bot need from the scanner: the latest report, and a way to ask for a scan now. */
import type { ScanReport } from './repository.ts';

export interface ScanRequest {
  trigger: 'bot' | 'api';
  /** The admin who asked (a user id; the bot's progress message goes to them). */
  requestedBy?: string | undefined;
  /** The bot message the worker edits with progress and, at the end, the report. */
  statusMessageId?: number | undefined;
}

export interface ScannerService {
  /** The latest completed scan's report, or null before the first scan. */
  latest(): Promise<ScanReport | null>;
  /** Queues a scan unless one is already waiting or running (then its job id, with `queued: false`). */
  request(input: ScanRequest): Promise<{ jobId: string; queued: boolean }>;
}
