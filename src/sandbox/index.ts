/** @module The sandbox WeChat API: a fake api.weixin.qq.com on loopback for tests and `wxgate demo`. */
export { startSandbox } from './sandbox.server'
export {
  DEMO_ACCOUNT, DEMO_SCAN_OPENID, DEMO_TEMPLATES,
  type CallbackTarget, type DeliveredMessage, type InjectRule, type QrScene, type ReceivedCall, type Sandbox, type SandboxAccount,
  type SandboxOptions, type ScanNotSent, type ScanOptions, type ScanResult, type ScanSent,
} from './sandbox.types'
export { ScanError, originalIdOf } from './scan'
export { ERRMSGS, officialErrmsg } from './wx-reply'
