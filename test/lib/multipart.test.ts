/** The streaming multipart reader (src/lib/multipart.ts) against bodies made by fetch's own FormData encoder. */
import { describe, expect, test } from 'bun:test'
import { boundaryOf, readMultipart } from '../../src/lib/multipart'

/** The body fetch would send for the form, cut into reads of `chunk` bytes (to split delimiters across reads). */
const encode = async (form: FormData, chunk = 7) => {
  const r = new Request('http://x/', { method: 'POST', body: form })
  const boundary = boundaryOf(r.headers.get('content-type'))!
  const bytes = new Uint8Array(await r.arrayBuffer())
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < bytes.length; i += chunk) c.enqueue(bytes.slice(i, i + chunk))
      c.close()
    },
  })
  return { stream, boundary }
}

const opts = (limit = 1 << 20) => ({
  limitFor: () => ({ limit, tooLarge: () => new Error('too large') }),
  malformed: (why: string) => new Error(`malformed: ${why}`),
})

describe('readMultipart', () => {
  test('reads fields and a binary file exactly, whatever the read sizes', async () => {
    const file = new Uint8Array(5000).map((_, i) => (i * 31) % 256)
    for (const chunk of [1, 7, 64, 100_000]) {
      const form = new FormData()
      form.append('type', 'image')
      form.append('file', new File([file], '图片.png', { type: 'image/png' }))
      const { stream, boundary } = await encode(form, chunk)
      const parts = await readMultipart(stream, boundary, opts())
      expect(parts.map((p) => [p.name, p.filename, p.contentType])).toEqual([['type', undefined, undefined], ['file', '图片.png', 'image/png']])
      expect(new TextDecoder().decode(parts[0]!.bytes)).toBe('image')
      expect(Buffer.from(parts[1]!.bytes).equals(Buffer.from(file))).toBe(true)
    }
  })

  test('a part over its limit throws its error at the limit; the limit sees the parts before', async () => {
    const form = new FormData()
    form.append('type', 'thumb')
    form.append('file', new File([new Uint8Array(3000)], 'a.jpg'))
    const { stream, boundary } = await encode(form, 100)
    const seen: string[] = []
    await expect(readMultipart(stream, boundary, {
      limitFor: (h, before) => {
        seen.push(`${h.name}<-${before.map((p) => p.name).join(',')}`)
        return { limit: h.name === 'file' ? 2999 : 100, tooLarge: () => new Error(`${h.name} too large`) }
      },
      malformed: (why) => new Error(why),
    })).rejects.toThrow('file too large')
    expect(seen).toEqual(['type<-', 'file<-type'])
  })

  test('a body cut before its closing boundary, or with another boundary, is malformed', async () => {
    const form = new FormData()
    form.append('a', 'b')
    const r = new Request('http://x/', { method: 'POST', body: form })
    const boundary = boundaryOf(r.headers.get('content-type'))!
    const text = await r.text()
    const cut = new Response(text.slice(0, text.length - 10)).body!
    await expect(readMultipart(cut, boundary, opts())).rejects.toThrow('malformed')
    await expect(readMultipart(new Response(text).body!, 'other', opts())).rejects.toThrow('malformed')
    expect(boundaryOf('application/json')).toBeUndefined()
    expect(boundaryOf('multipart/form-data; boundary="a b"')).toBe('a b')
  })
})
