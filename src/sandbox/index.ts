/** @module The sandbox WeChat API: a fake api.weixin.qq.com on loopback for tests and `wxgate demo`. */
export { startSandbox } from './sandbox.server'
export {
  DEMO_ACCOUNT, DEMO_TEMPLATES,
  type DeliveredMessage, type InjectRule, type QrScene, type ReceivedCall, type Sandbox, type SandboxAccount, type SandboxOptions,
} from './sandbox.types'
export { ERRMSGS, officialErrmsg } from './wx-reply'
