/** Column types Drizzle lacks. */
import { customType } from 'drizzle-orm/pg-core';

/** PostgreSQL bytea as a Node Buffer (PGlite returns Uint8Array, node-postgres Buffer: both normalised). */
export const bytea = customType<{ data: Buffer; driverData: Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (value) => Buffer.from(value),
  toDriver: (value) => value,
});
