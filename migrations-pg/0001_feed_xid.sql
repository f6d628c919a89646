-- The webhook feed's cursor on PostgreSQL (issue 14; src/store/postgres/inbound.repo.ts): the inserting
-- transaction's id, settled below the snapshot's xmin. Not in the drizzle schema (kept equal to SQLite's):
-- drizzle's inserts leave it to this default. Existing rows get this migration's transaction id.
ALTER TABLE "inbound_messages" ADD COLUMN "tx_id" bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
--> statement-breakpoint
CREATE INDEX "inbound_tx_id_idx" ON "inbound_messages" USING btree ("tx_id", "id");
--> statement-breakpoint
-- Feed cursors were ids until now: every endpoint starts at the newest row's transaction (nothing replayed).
UPDATE "webhook_endpoints" SET "feed_cursor" = (SELECT coalesce(max("tx_id"), 0) FROM "inbound_messages");
