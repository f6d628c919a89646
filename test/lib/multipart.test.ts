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

// The hand-written reader keeps the runtime's own parser (Request.formData(), which buffers the whole body)
// as its reference: the same generated forms, cut into random read sizes, read alike by both.
describe('readMultipart against Request.formData() (differential)', () => {
  test('1,000 generated forms: the same fields, filenames, types and bytes', async () => {
    let seed = 12345
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n }
    const tricky = ['\r\n', '--', '\r\n--', 'Content-Disposition: form-data', '"', '\r\n\r\n', '中文', '\0']
    for (let c = 0; c < 1000; c++) {
      const form = new FormData()
      const parts = 1 + rnd(5)
      for (let i = 0; i < parts; i++) {
        const name = `f${i}${rnd(2) ? '_名' : ''}`
        if (rnd(2)) {
          form.append(name, Array.from({ length: rnd(6) }, () => tricky[rnd(tricky.length)]! + String(rnd(1000))).join(''))
        } else {
          const bytes = new Uint8Array(rnd(3000)).map(() => rnd(256))
          // Some files carry the start of a delimiter inside them.
          if (bytes.length > 10 && rnd(2)) bytes.set(new TextEncoder().encode('\r\n--'), rnd(bytes.length - 4))
          form.append(name, new File([bytes], rnd(2) ? `file${i}.bin` : `文件 ${i}.png`, { type: rnd(2) ? 'application/octet-stream' : 'image/png' }))
        }
      }
      const { stream, boundary } = await encode(form, 1 + rnd(200))
      const ours = await readMultipart(stream, boundary, { ...opts(), maxParts: 16 })
      const reference = [...(await new Request('http://x/', { method: 'POST', body: form }).formData()).entries()]
      expect(ours.map((p) => p.name)).toEqual(reference.map(([k]) => k))
      for (let i = 0; i < ours.length; i++) {
        const [, v] = reference[i]!
        if (typeof v === 'string') {
          expect(ours[i]!.filename).toBeUndefined()
          expect(new TextDecoder().decode(ours[i]!.bytes)).toBe(v)
        } else {
          expect(ours[i]!.filename).toBe(v.name)
          // Bun's formData() guesses a file's type from its name's extension and ignores the part's
          // Content-Type; ours reads the header as sent: compared with what the encoder was given.
          expect(ours[i]!.contentType).toBe((form.getAll(ours[i]!.name)[0] as File).type)
          expect(Buffer.from(ours[i]!.bytes).equals(Buffer.from(await v.arrayBuffer()))).toBe(true)
        }
      }
    }
  })
})
