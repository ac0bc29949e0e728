import { defineConfig } from 'drizzle-kit';

/** The key store's own schema and migrations (a separate database from the data). */
export default defineConfig({
  dialect: 'postgresql',
  schema: './shared/db/keystore/schema.ts',
  out: './shared/db/keystore/migrations',
});
