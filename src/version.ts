/** @module The version, taken from package.json at build time (the compiled binary embeds it). */
import pkg from '../package.json' with { type: 'json' }

export const VERSION: string = pkg.version
