/**
 * @module The fields of a template from its `content` (pure): `get_all_private_template` answers each template's
 * text with placeholders, one field a line, e.g. `商品名称:{{thing1.DATA}}` (PROTOCOL.md §9.5;
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html#获取模板列表).
 * Category templates (类目模板) name each key `<type><digits>` (`thing1`, `amount2`); older industry templates
 * have `{{first.DATA}}`, `{{keyword1.DATA}}` and `{{remark.DATA}}`, the first and last on lines of their own.
 */

export interface TemplateField {
  /** The data key, e.g. `thing1`. */
  key: string
  /** The key without its trailing digits: `thing1` → `thing`, `character_string2` → `character_string`, `first` → `first`. */
  type: string
  /** The text before the placeholder on its line, trimmed, without a trailing colon (ASCII or full-width): `商品名称`; '' if none. */
  label: string
}

// The official page prints placeholders as "{ {result.DATA} }" (spaces inside the braces); real answers have none. Both are read.
const PLACEHOLDER = /\{\s*\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\.\s*DATA\s*\}\s*\}/g
const TRAILING_COLONS = /[\s:：]+$/u

/** 'thing1' → 'thing'; a key without digits is its own type. */
export const fieldTypeOf = (key: string): string => key.replace(/\d+$/, '') || key

/**
 * The fields in the order they appear, each key once. The label is the text between the start of the line
 * (or the previous placeholder on the same line) and the placeholder.
 */
export const parseTemplateContent = (content: string): TemplateField[] => {
  const fields: TemplateField[] = []
  const seen = new Set<string>()
  for (const line of content.split(/\r\n|\r|\n/)) {
    let from = 0
    for (const m of line.matchAll(PLACEHOLDER)) {
      const key = m[1]!
      const label = line.slice(from, m.index).trim().replace(TRAILING_COLONS, '').trim()
      from = m.index + m[0].length
      if (seen.has(key)) continue
      seen.add(key)
      fields.push({ key, type: fieldTypeOf(key), label })
    }
  }
  return fields
}
