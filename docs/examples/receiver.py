# A receiver for wxgate's events (Python 3.9+): pip install standardwebhooks
# WXGATE_WEBHOOK_SECRET=whsec_… PORT=8080 python3 receiver.py
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

wh = Webhook(os.environ["WXGATE_WEBHOOK_SECRET"])  # the secret POST /api/webhooks showed once
# webhook-ids already handled: delivery is at least once. In production keep them in your
# database (a table with the id as its primary key), so a restart does not forget them.
seen = set()
seen_lock = threading.Lock()


def handle(event):
    # The real work: update your CRM, notify someone, ... (`data` is described in the event table).
    if event["type"] == "message.received":
        print(json.dumps({"handled": event["type"], "openid": event["data"]["openid"], "content": event["data"].get("content")}, ensure_ascii=False), flush=True)
    else:
        print(json.dumps({"handled": event["type"]}, ensure_ascii=False), flush=True)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        # Verify the raw bytes, before any JSON parsing: the signature covers the body exactly as sent.
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            event = wh.verify(body, dict(self.headers))  # raises on a bad signature or a timestamp off by > 5 min
        except WebhookVerificationError:
            self.send_response(401)
            self.end_headers()
            return
        # Answer at once (wxgate waits 10 s, then retries), then do the work.
        self.send_response(204)
        self.end_headers()
        msg_id = self.headers["webhook-id"]
        with seen_lock:
            if msg_id in seen:
                return
            seen.add(msg_id)
        threading.Thread(target=handle, args=(event,)).start()


server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8080"))), Receiver)
print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
