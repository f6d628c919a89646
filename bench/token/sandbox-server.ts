/** The sandbox WeChat API as its own process, for benchmarks: prints its URL on the first line. */
import { DEMO_ACCOUNT, startSandbox } from '../../src/sandbox'

const sb = await startSandbox({ accounts: [DEMO_ACCOUNT] })
console.log(sb.url)
process.on('SIGTERM', () => void sb.stop().then(() => process.exit(0)))
