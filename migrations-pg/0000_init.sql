CREATE TABLE "api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"key_hash" text NOT NULL,
	"prefix" text NOT NULL,
	"scopes" text NOT NULL,
	"created_at" bigint NOT NULL,
	"revoked_at" bigint,
	"last_used_at" bigint
);
--> statement-breakpoint
CREATE TABLE "bind_codes" (
	"code" text PRIMARY KEY NOT NULL,
	"channel_id" text NOT NULL,
	"subject" text NOT NULL,
	"label" text,
	"status" text NOT NULL,
	"qr_ticket" text NOT NULL,
	"qr_url" text NOT NULL,
	"created_at" bigint NOT NULL,
	"expires_at" bigint NOT NULL,
	"openid" text,
	"bound_at" bigint
);
--> statement-breakpoint
CREATE TABLE "bindings" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"id" text NOT NULL,
	"channel_id" text NOT NULL,
	"openid" text NOT NULL,
	"subject" text NOT NULL,
	"status" text NOT NULL,
	"code" text,
	"bound_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "channel_tokens" (
	"channel_id" text PRIMARY KEY NOT NULL,
	"access_token" text,
	"expires_at" bigint,
	"refreshed_at" bigint,
	"day" text NOT NULL,
	"refreshes_today" bigint DEFAULT 0 NOT NULL,
	"force_refreshes_today" bigint DEFAULT 0 NOT NULL,
	"last_force_at" bigint,
	"quota_until" bigint,
	"api_quotas" text,
	"last_error" text
);
--> statement-breakpoint
CREATE TABLE "channels" (
	"id" text PRIMARY KEY NOT NULL,
	"app_id" text NOT NULL,
	"app_secret" text NOT NULL,
	"token" text NOT NULL,
	"aes_key" text,
	"replies" text,
	"name" text,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "inbound_messages" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"channel_id" text NOT NULL,
	"dedup_key" text NOT NULL,
	"msg_type" text NOT NULL,
	"event" text,
	"from_user" text NOT NULL,
	"create_time" bigint NOT NULL,
	"body" text NOT NULL,
	"reply" text NOT NULL,
	"handled_by" text NOT NULL,
	"claimed" boolean DEFAULT false NOT NULL,
	"received_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "media_uploads" (
	"channel_id" text NOT NULL,
	"type" text NOT NULL,
	"sha256" text NOT NULL,
	"media_id" text NOT NULL,
	"bytes" bigint NOT NULL,
	"created_at" bigint NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "message_attempts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"message_id" text NOT NULL,
	"at" bigint NOT NULL,
	"duration_ms" bigint NOT NULL,
	"outcome" text NOT NULL,
	"errcode" bigint,
	"error" text
);
--> statement-breakpoint
CREATE TABLE "messages" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"id" text NOT NULL,
	"request_id" text NOT NULL,
	"channel_id" text NOT NULL,
	"openid" text NOT NULL,
	"subject" text,
	"template_id" text NOT NULL,
	"type" text DEFAULT 'template' NOT NULL,
	"payload" text NOT NULL,
	"fallback" text,
	"sent_as" text,
	"status" text NOT NULL,
	"attempts" bigint DEFAULT 0 NOT NULL,
	"errcode" bigint,
	"error" text,
	"wechat_msg_id" text,
	"next_attempt_at" bigint NOT NULL,
	"created_at" bigint NOT NULL,
	"sent_at" bigint,
	"finished_at" bigint,
	"last_call_at" bigint,
	"uncertain_since" bigint
);
--> statement-breakpoint
CREATE TABLE "send_requests" (
	"id" text PRIMARY KEY NOT NULL,
	"api_key_id" text NOT NULL,
	"idempotency_key" text,
	"body_hash" text NOT NULL,
	"answer" text NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_deliveries" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"id" text NOT NULL,
	"event_id" text NOT NULL,
	"endpoint_id" text NOT NULL,
	"status" text NOT NULL,
	"attempts" bigint DEFAULT 0 NOT NULL,
	"next_attempt_at" bigint NOT NULL,
	"lease_until" bigint,
	"last_status_code" bigint,
	"last_error" text,
	"created_at" bigint NOT NULL,
	"delivered_at" bigint,
	"finished_at" bigint
);
--> statement-breakpoint
CREATE TABLE "webhook_endpoints" (
	"id" text PRIMARY KEY NOT NULL,
	"url" text NOT NULL,
	"events" text NOT NULL,
	"channel_id" text,
	"description" text,
	"secret" text NOT NULL,
	"previous_secret" text,
	"previous_secret_until" bigint,
	"disabled" boolean DEFAULT false NOT NULL,
	"disabled_reason" text,
	"failing_since" bigint,
	"reply" boolean DEFAULT false NOT NULL,
	"late_reply" text DEFAULT 'send' NOT NULL,
	"feed_cursor" bigint DEFAULT 0 NOT NULL,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_events" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"id" text NOT NULL,
	"type" text NOT NULL,
	"channel_id" text,
	"body" text NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "bind_codes" ADD CONSTRAINT "bind_codes_channel_id_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."channels"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bindings" ADD CONSTRAINT "bindings_channel_id_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."channels"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channel_tokens" ADD CONSTRAINT "channel_tokens_channel_id_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."channels"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "media_uploads" ADD CONSTRAINT "media_uploads_channel_id_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."channels"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "messages" ADD CONSTRAINT "messages_channel_id_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."channels"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_endpoint_id_webhook_endpoints_id_fk" FOREIGN KEY ("endpoint_id") REFERENCES "public"."webhook_endpoints"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_endpoints" ADD CONSTRAINT "webhook_endpoints_channel_id_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."channels"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_hash_uq" ON "api_keys" USING btree ("key_hash");--> statement-breakpoint
CREATE INDEX "bind_codes_expires_at_idx" ON "bind_codes" USING btree ("expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "bindings_id_uq" ON "bindings" USING btree ("id");--> statement-breakpoint
CREATE UNIQUE INDEX "bindings_channel_openid_uq" ON "bindings" USING btree ("channel_id","openid");--> statement-breakpoint
CREATE INDEX "bindings_channel_subject_idx" ON "bindings" USING btree ("channel_id","subject");--> statement-breakpoint
CREATE UNIQUE INDEX "inbound_channel_dedup_uq" ON "inbound_messages" USING btree ("channel_id","dedup_key");--> statement-breakpoint
CREATE INDEX "inbound_received_at_idx" ON "inbound_messages" USING btree ("received_at");--> statement-breakpoint
CREATE INDEX "inbound_channel_from_idx" ON "inbound_messages" USING btree ("channel_id","from_user","id");--> statement-breakpoint
CREATE UNIQUE INDEX "media_uploads_uq" ON "media_uploads" USING btree ("channel_id","type","sha256");--> statement-breakpoint
CREATE INDEX "media_uploads_expires_idx" ON "media_uploads" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "message_attempts_message_idx" ON "message_attempts" USING btree ("message_id");--> statement-breakpoint
CREATE UNIQUE INDEX "messages_id_uq" ON "messages" USING btree ("id");--> statement-breakpoint
CREATE INDEX "messages_due_idx" ON "messages" USING btree ("status","channel_id","seq");--> statement-breakpoint
CREATE INDEX "messages_queued_due_idx" ON "messages" USING btree ("channel_id","next_attempt_at","seq") WHERE status = 'queued';--> statement-breakpoint
CREATE INDEX "messages_queued_custom_due_idx" ON "messages" USING btree ("channel_id","next_attempt_at","seq") WHERE status = 'queued' AND type <> 'template';--> statement-breakpoint
CREATE INDEX "messages_wechat_msg_idx" ON "messages" USING btree ("channel_id","wechat_msg_id");--> statement-breakpoint
CREATE INDEX "messages_subject_idx" ON "messages" USING btree ("channel_id","subject");--> statement-breakpoint
CREATE INDEX "messages_created_at_idx" ON "messages" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "messages_request_idx" ON "messages" USING btree ("request_id");--> statement-breakpoint
CREATE INDEX "messages_openid_idx" ON "messages" USING btree ("channel_id","openid","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "send_requests_key_uq" ON "send_requests" USING btree ("api_key_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "send_requests_created_at_idx" ON "send_requests" USING btree ("created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_deliveries_id_uq" ON "webhook_deliveries" USING btree ("id");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_endpoint_due_idx" ON "webhook_deliveries" USING btree ("endpoint_id","next_attempt_at","seq") WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX "webhook_deliveries_endpoint_idx" ON "webhook_deliveries" USING btree ("endpoint_id","seq");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_event_idx" ON "webhook_deliveries" USING btree ("event_id");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_finished_at_idx" ON "webhook_deliveries" USING btree ("finished_at");--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_events_id_uq" ON "webhook_events" USING btree ("id");--> statement-breakpoint
CREATE INDEX "webhook_events_created_at_idx" ON "webhook_events" USING btree ("created_at");