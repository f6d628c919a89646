/**
 * @module WeChat's XML field names in camelCase, for JSON that the team's systems read (events, the inbound
 * history): `ToUserName` → `toUserName`, `Location_X` → `locationX`, `MsgID` → `msgId` (the spelling the
 * typed messages of messages.ts use), nested elements and lists mapped the same way. Pure.
 */

/** `FromUserName` → `fromUserName`, `Location_X` → `locationX`, `MsgID`/`MenuID` → `msgId`/`menuId`, `URL` → `url`. */
export const camelName = (name: string): string => {
  const parts = name.split('_').filter((p) => p !== '')
  const out = parts.map((p, i) => {
    // A trailing all-caps "ID" after a lower-case letter is the word Id (MsgID, MenuID).
    let w = p.replace(/([a-z0-9])ID$/, '$1Id')
    if (i === 0) {
      // A leading run of capitals is one word (URL → url, PicMd5Sum → picMd5Sum).
      const m = /^[A-Z]+(?![a-z])/.exec(w)
      w = m ? w.slice(0, m[0].length).toLowerCase() + w.slice(m[0].length) : w.charAt(0).toLowerCase() + w.slice(1)
    } else {
      w = w.charAt(0).toUpperCase() + w.slice(1)
    }
    return w
  })
  return out.join('') || name
}

/** Every key of a parsed XML tree (parseXml's objects, arrays and strings) in camelCase, recursively. */
export const camelFields = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(camelFields)
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[camelName(k)] = camelFields(x)
    return out
  }
  return v
}
