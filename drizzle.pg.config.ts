import { defineConfig } from 'drizzle-kit'

// The PostgreSQL schema's migrations (issue 14): `npx drizzle-kit generate --config drizzle.pg.config.ts`.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/store/postgres/schema.ts',
  out: './migrations-pg',
})
