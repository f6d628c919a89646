# A reply hook for wxgate: pip install standardwebhooks flask
# WXGATE_HOOK_SECRET=whsec_… flask --app reply_hook run --port 8080   (saved as reply_hook.py)
import os
from flask import Flask, request, jsonify
from standardwebhooks import Webhook

app = Flask(__name__)
wh = Webhook(os.environ["WXGATE_HOOK_SECRET"])  # the secret POST /api/webhooks showed once


@app.post("/")
def reply():
    try:
        event = wh.verify(request.get_data(), dict(request.headers))
    except Exception:
        return "", 401
    data = event["data"]
    if event["type"] == "message.received" and data.get("msgType") == "text":
        # Be quick: the budget is 3 s.
        return jsonify(reply={"type": "text", "content": "你说：" + data["content"]})
    return "", 204
