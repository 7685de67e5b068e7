import { afterAll } from 'bun:test'
import { cleanUpRun } from './helpers.ts'

// Preloaded (bunfig.toml), so this hook runs once, after every test file.
afterAll(cleanUpRun)
