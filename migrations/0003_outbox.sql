CREATE TABLE `message_attempts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`message_id` text NOT NULL,
	`at` integer NOT NULL,
	`duration_ms` integer NOT NULL,
	`outcome` text NOT NULL,
	`errcode` integer,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `message_attempts_message_idx` ON `message_attempts` (`message_id`);--> statement-breakpoint
CREATE TABLE `messages` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`request_id` text NOT NULL,
	`channel_id` text NOT NULL,
	`openid` text NOT NULL,
	`subject` text,
	`template_id` text NOT NULL,
	`payload` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`errcode` integer,
	`error` text,
	`wechat_msg_id` text,
	`next_attempt_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	`sent_at` integer,
	`finished_at` integer,
	FOREIGN KEY (`channel_id`) REFERENCES `channels`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `messages_id_uq` ON `messages` (`id`);--> statement-breakpoint
CREATE INDEX `messages_due_idx` ON `messages` (`status`,`channel_id`,`seq`);--> statement-breakpoint
CREATE INDEX `messages_wechat_msg_idx` ON `messages` (`channel_id`,`wechat_msg_id`);--> statement-breakpoint
CREATE INDEX `messages_subject_idx` ON `messages` (`channel_id`,`subject`);--> statement-breakpoint
CREATE INDEX `messages_created_at_idx` ON `messages` (`created_at`);--> statement-breakpoint
CREATE INDEX `messages_request_idx` ON `messages` (`request_id`);--> statement-breakpoint
CREATE TABLE `send_requests` (
	`id` text PRIMARY KEY NOT NULL,
	`api_key_id` text NOT NULL,
	`idempotency_key` text,
	`body_hash` text NOT NULL,
	`answer` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `send_requests_key_uq` ON `send_requests` (`api_key_id`,`idempotency_key`);--> statement-breakpoint
CREATE INDEX `send_requests_created_at_idx` ON `send_requests` (`created_at`);