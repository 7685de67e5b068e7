import { expect } from 'bun:test'
import { mkdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, runTempDir } from '../helpers.ts'

/** What a user of the package has: a project of their own with the tarball installed. */
export interface PackedClient {
	/** The consumer project: package.json, node_modules/@cortex-stream/client. */
	project: string
	tarball: string
	/** Paths inside the tarball, `package/` left off. */
	files: string[]
}

let packed: Promise<PackedClient> | undefined

/**
 * Packs client/ as a publisher would (`npm pack`, whose prepack builds dist/) and installs the
 * tarball with npm, offline, into a fresh project outside the repository: once per test run,
 * shared by the test files that need it. Nothing of the repository's node_modules is visible
 * to the project but what `linkDevPackages` links in on purpose.
 */
export function packedClient(): Promise<PackedClient> {
	packed ??= pack()
	return packed
}

async function pack(): Promise<PackedClient> {
	const out = runTempDir('cortex-pack-')
	const packing = Bun.spawnSync(['npm', 'pack', '--json', '--pack-destination', out], {
		cwd: join(ROOT, 'client'),
		env: { ...process.env, npm_config_update_notifier: 'false' },
	})
	// The build's compiler errors go to stdout, npm's to stderr.
	if (packing.exitCode !== 0)
		throw new Error(`npm pack failed:\n${packing.stdout}\n${packing.stderr}`)
	const [info] = JSON.parse(packing.stdout.toString()) as [
		{ filename: string; files: { path: string }[] },
	]
	const tarball = join(out, info.filename)

	const project = join(out, 'project')
	mkdirSync(project)
	await Bun.write(
		join(project, 'package.json'),
		JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
	)
	const install = Bun.spawnSync(
		['npm', 'install', '--offline', '--no-audit', '--no-fund', tarball],
		{ cwd: project, env: { ...process.env, npm_config_update_notifier: 'false' } },
	)
	expect(install.stderr.toString()).toBe('')
	expect(install.exitCode).toBe(0)
	return { project, tarball, files: info.files.map((f) => f.path) }
}

/**
 * Links packages from the repository's node_modules into the consumer project, as if it had
 * installed them itself: the ones a test needs beside the client (react, @types/react...).
 */
export function linkDevPackages(project: string, names: string[]) {
	for (const name of names) {
		const to = join(project, 'node_modules', name)
		mkdirSync(join(to, '..'), { recursive: true })
		try {
			symlinkSync(join(ROOT, 'node_modules', name), to, 'dir')
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
		}
	}
}

/** TypeScript 5 (the repository's own `typescript` is 7): the compiler most users have. */
export const TSC5 = join(ROOT, 'node_modules/typescript5/bin/tsc')
/** TypeScript 7, the repository's own. */
export const TSC7 = join(ROOT, 'node_modules/typescript/bin/tsc')
