/** @module The sandbox WeChat API: a fake api.weixin.qq.com on loopback for tests and `wxgate demo`. */
export { startSandbox } from './sandbox.server'
export {
  DEMO_ACCOUNT, DEMO_SCAN_OPENID, DEMO_TEMPLATE_LIST, DEMO_TEMPLATES,
  type CallbackTarget, type DeliveredMessage, type InjectRule, type QrScene, type ReceivedCall, type Sandbox, type SandboxAccount,
  type SandboxOptions, type SandboxTemplate, type ScanNotSent, type ScanOptions, type ScanResult, type ScanSent, type TemplateFinishOptions,
  type TemplateInit, type UserSendOptions, type UserSendResult,
} from './sandbox.types'
export type { CustomMessage, ReceivedMessage } from './sandbox.types'
export { ScanError, originalIdOf } from './scan'
export { UserSendError } from './user-send'
export { DEFAULT_FINISH_DELAY_MS } from './template-finish'
export { ERRMSGS, officialErrmsg } from './wx-reply'
