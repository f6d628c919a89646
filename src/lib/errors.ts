/**
 * @module One error hierarchy: every failure carries a stable `code`, an HTTP `status` and a `cause`.
 * The global error mapper renders `{ error: { code, message, details } }`; callback routes render
 * only the status and a short text, never a stack.
 */

export class AppError extends Error {
  override name = 'AppError'
  readonly code: string
  readonly status: number
  readonly details?: unknown

  constructor(code: string, status: number, message: string, opts: { cause?: unknown; details?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.code = code
    this.status = status
    this.details = opts.details
  }
}

/** A callback whose signature or msg_signature does not verify, or whose timestamp is too old. */
export class InvalidSignatureError extends AppError {
  override name = 'InvalidSignatureError'
  constructor(message = 'invalid signature', opts: { cause?: unknown; details?: unknown } = {}) {
    super('invalid_signature', 401, message, opts)
  }
}

/** Malformed XML, a DOCTYPE or entity declaration, or a message without MsgType. */
export class BadXmlError extends AppError {
  override name = 'BadXmlError'
  constructor(message = 'malformed XML', opts: { cause?: unknown; details?: unknown } = {}) {
    super('bad_xml', 400, message, opts)
  }
}

/** Ciphertext that does not decrypt: bad base64, bad padding, bad length, wrong key. */
export class DecryptError extends AppError {
  override name = 'DecryptError'
  constructor(message = 'cannot decrypt message', opts: { cause?: unknown; details?: unknown } = {}) {
    super('decrypt_failed', 400, message, opts)
  }
}

/** The AppID at the end of a decrypted message is not the channel's AppID. */
export class AppIdMismatchError extends AppError {
  override name = 'AppIdMismatchError'
  constructor(message = 'AppID inside the ciphertext does not match the channel', opts: { cause?: unknown; details?: unknown } = {}) {
    super('appid_mismatch', 401, message, opts)
  }
}

/** An EncodingAESKey that is not 43 characters of [A-Za-z0-9]. */
export class InvalidAesKeyError extends AppError {
  override name = 'InvalidAesKeyError'
  constructor(message = 'EncodingAESKey must be 43 characters of [A-Za-z0-9]', opts: { cause?: unknown; details?: unknown } = {}) {
    super('invalid_aes_key', 422, message, opts)
  }
}

export class PayloadTooLargeError extends AppError {
  override name = 'PayloadTooLargeError'
  constructor(message = 'request body too large', opts: { cause?: unknown; details?: unknown } = {}) {
    super('payload_too_large', 413, message, opts)
  }
}

/** An API body that cannot be read as JSON: malformed, not valid UTF-8, or nested deeper than the limit. */
export class MalformedBodyError extends AppError {
  override name = 'MalformedBodyError'
  constructor(code: 'malformed_json' | 'invalid_utf8' | 'too_deep', message: string, opts: { cause?: unknown; details?: unknown } = {}) {
    super(code, 400, message, opts)
  }
}

export class NotFoundError extends AppError {
  override name = 'NotFoundError'
  constructor(message = 'not found', opts: { cause?: unknown; details?: unknown } = {}) {
    super('not_found', 404, message, opts)
  }
}

export class UnauthorizedError extends AppError {
  override name = 'UnauthorizedError'
  constructor(message = 'missing or invalid API key', opts: { cause?: unknown; details?: unknown } = {}) {
    super('unauthorized', 401, message, opts)
  }
}

export class ForbiddenError extends AppError {
  override name = 'ForbiddenError'
  constructor(message = 'the API key lacks the required scope', opts: { cause?: unknown; details?: unknown } = {}) {
    super('forbidden', 403, message, opts)
  }
}

export class ValidationError extends AppError {
  override name = 'ValidationError'
  constructor(message: string, opts: { cause?: unknown; details?: unknown } = {}) {
    super('validation_failed', 422, message, opts)
  }
}

export class ConflictError extends AppError {
  override name = 'ConflictError'
  constructor(message: string, opts: { cause?: unknown; details?: unknown } = {}) {
    super('conflict', 409, message, opts)
  }
}

export class ConfigError extends AppError {
  override name = 'ConfigError'
  constructor(message: string, opts: { cause?: unknown; details?: unknown } = {}) {
    super('bad_setting', 500, message, opts)
  }
}
