/** @module Tests for the sandbox's /cgi-bin/media/upload and /cgi-bin/media/get, and /_sandbox/media. */
import { describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT } from '../../src/sandbox'
import { OTHER_ACCOUNT, T0, get, json, post, setup, stable } from './sandbox-helpers'

const ready = async () => {
  const ctx = await setup()
  const { access_token } = await stable(ctx.sb)
  const upload = (type: string, bytes: Uint8Array | undefined, token = access_token, field = 'media') => {
    const form = new FormData()
    if (bytes) form.append(field, new File([bytes], 'f.jpg', { type: 'image/jpeg' }))
    return fetch(`${ctx.sb.url}/cgi-bin/media/upload?${new URLSearchParams({ access_token: token, type })}`, { method: 'POST', body: form })
  }
  return { ...ctx, access_token, upload }
}

describe('media/upload and media/get', () => {
  test('an upload answers {type, media_id, created_at}; media/get gives the bytes back with their type; the call is recorded', async () => {
    const { sb, access_token, upload } = await ready()
    const bytes = new Uint8Array([0xff, 0xd8, 1, 2, 3, 0xff, 0xd9])
    const a = await json(upload('thumb', bytes))
    const mediaId = a.media_id as string
    expect(mediaId).toMatch(/^[\w-]{64}$/)
    expect(a).toMatchObject({ type: 'thumb', created_at: T0 / 1000 })
    expect(sb.calls('/cgi-bin/media/upload')).toBe(1)
    expect(sb.received('/cgi-bin/media/upload')[0]!.body).toEqual({ media: { filename: 'f.jpg', contentType: 'image/jpeg', bytes: 7 } })
    const res = await get(sb, '/cgi-bin/media/get', { access_token, media_id: mediaId })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('image/jpeg')
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="f.jpg"')
    expect([...new Uint8Array(await res.arrayBuffer())]).toEqual([...bytes])
  })

  test("WeChat's errors: 40004 type, 40006 size (a thumb over 64 KB), 41005 no media field, 43002 GET, 40001 token", async () => {
    const { sb, upload } = await ready()
    expect((await json(upload('gif', new Uint8Array(3)))).errcode).toBe(40004)
    expect((await json(upload('thumb', new Uint8Array(64 * 1024 + 1)))).errcode).toBe(40006)
    expect((await json(upload('thumb', new Uint8Array(64 * 1024)))).media_id).toBeString()
    expect((await json(upload('image', new Uint8Array(3), undefined, 'file'))).errcode).toBe(41005)
    expect((await json(get(sb, '/cgi-bin/media/upload', { type: 'image' }))).errcode).toBe(43002)
    expect((await json(upload('image', new Uint8Array(3), 'not-a-token'))).errcode).toBe(40001)
  })

  test('media/get: 40007 for an unknown id, another account\'s, or one older than 3 days; a video answers {video_url}', async () => {
    const { sb, clock, access_token, upload } = await ready()
    expect((await json(get(sb, '/cgi-bin/media/get', { access_token, media_id: 'nope' }))).errcode).toBe(40007)
    const other = sb.addMedia(OTHER_ACCOUNT.appId, new Uint8Array([1]))
    expect((await json(get(sb, '/cgi-bin/media/get', { access_token, media_id: other }))).errcode).toBe(40007)
    const video = await json(upload('video', new Uint8Array(10)))
    expect(await json(get(sb, '/cgi-bin/media/get', { access_token, media_id: video.media_id }))).toEqual({ video_url: expect.stringContaining(video.media_id) })
    const old = sb.addMedia(DEMO_ACCOUNT.appId, new Uint8Array([1]))
    clock.advance(3 * 86_400_000)
    const fresh = (await stable(sb)).access_token
    expect((await json(get(sb, '/cgi-bin/media/get', { access_token: fresh, media_id: old }))).errcode).toBe(40007)
  })

  test('/_sandbox/media puts a media a user sent (base64) and reads one back; reset forgets them', async () => {
    const { sb, access_token } = await ready()
    const { mediaId } = await json(post(sb, '/_sandbox/media', { base64: Buffer.from('png!').toString('base64'), contentType: 'image/png', filename: 'u.png' }))
    const res = await get(sb, '/cgi-bin/media/get', { access_token, media_id: mediaId })
    expect(res.headers.get('content-type')).toBe('image/png')
    expect(await res.text()).toBe('png!')
    expect(await json(get(sb, '/_sandbox/media', { mediaId }))).toMatchObject({ appId: DEMO_ACCOUNT.appId, type: 'image', bytes: 4, base64: Buffer.from('png!').toString('base64') })
    sb.reset()
    expect((await get(sb, '/_sandbox/media', { mediaId })).status).toBe(404)
  })
})
