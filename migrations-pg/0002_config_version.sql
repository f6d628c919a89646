-- The configuration version (issue 14; Db.dataVersion() in src/store/postgres/db.ts): one row, bumped by
-- statement-level triggers whenever channels, API keys or webhook endpoints change in what the caches
-- hold. Not on the columns every request or delivery writes (api_keys.last_used_at; webhook_endpoints'
-- feed_cursor, failing_since, disabled_reason, updated_at), so that those writes leave the caches alone.
CREATE TABLE "_wxgate_config_version" ("v" bigint NOT NULL);
--> statement-breakpoint
INSERT INTO "_wxgate_config_version" ("v") VALUES (1);
--> statement-breakpoint
CREATE FUNCTION "_wxgate_bump_config_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "_wxgate_config_version" SET "v" = "v" + 1;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "channels_config_version" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "channels"
  FOR EACH STATEMENT EXECUTE FUNCTION "_wxgate_bump_config_version"();
--> statement-breakpoint
CREATE TRIGGER "api_keys_config_version" AFTER INSERT OR UPDATE OF "revoked_at", "scopes", "name", "key_hash" OR DELETE OR TRUNCATE ON "api_keys"
  FOR EACH STATEMENT EXECUTE FUNCTION "_wxgate_bump_config_version"();
--> statement-breakpoint
CREATE TRIGGER "webhook_endpoints_config_version" AFTER INSERT
  OR UPDATE OF "url", "events", "channel_id", "description", "secret", "previous_secret", "previous_secret_until", "disabled", "reply", "late_reply"
  OR DELETE OR TRUNCATE ON "webhook_endpoints"
  FOR EACH STATEMENT EXECUTE FUNCTION "_wxgate_bump_config_version"();
