/**
 * Preloaded by bunfig.toml for every `bun test`: its afterAll runs once, after the last test file. It stops the
 * PostgreSQL cluster test-db.ts started for TEST_DB=postgres (bun test emits no process `exit` event to do it
 * from, and a cluster left running outlives the run).
 */
import { afterAll } from 'bun:test'
import { stopTestCluster } from './test-db'

afterAll(() => stopTestCluster())
