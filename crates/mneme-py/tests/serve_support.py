"""A stub OpenAI-compatible upstream that counts its calls, and `mneme serve` started as a user
would start it (the `mneme` command this package installs), for test_serve.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Upstream:
    """Answers chat and text completions with "answer to <last user message>". A message
    containing FAIL500 gets a 500, SLOW waits 3 s (past the server's timeout), WAIT waits
    0.5 s (so identical requests overlap)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.authorizations: list[str] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                upstream.authorizations.append(self.headers.get("authorization", ""))
                chat = self.path.endswith("/chat/completions")
                text = body["messages"][-1]["content"] if chat else body["prompt"]
                upstream.calls[text] += 1
                if "FAIL500" in text:
                    return self.reply(500, {"error": {"message": "upstream broke", "type": "server_error"}})
                if "SLOW" in text:
                    time.sleep(3)
                if "WAIT" in text:
                    time.sleep(0.5)
                answer = f"answer to {text}"
                if body.get("stream"):
                    return self.stream(body["model"], answer, chat)
                if chat:
                    choice = {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
                    self.reply(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"], "choices": [choice],
                                     "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
                else:
                    self.reply(200, {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": body["model"],
                                     "choices": [{"index": 0, "text": answer, "finish_reason": "stop"}]})

            def reply(self, status, payload):
                out = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def stream(self, model, answer, chat):
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                for piece in (answer[:6], answer[6:]):
                    choice = {"index": 0, "delta": {"content": piece}, "finish_reason": None} if chat else {"index": 0, "text": piece, "finish_reason": None}
                    self.event({"id": "s", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [choice]})
                end = {"index": 0, "delta": {}, "finish_reason": "stop"} if chat else {"index": 0, "text": "", "finish_reason": "stop"}
                self.event({"id": "s", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [end]})
                self.wfile.write(b"data: [DONE]\n\n")

            def event(self, payload):
                self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
                self.wfile.flush()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


class Server:
    """`mneme serve` on a free loopback port, with the built-in model."""

    def __init__(self, cache: Path, *args: str) -> None:
        # The installed `mneme` command; MNEME_SERVE_BIN points at another build while developing.
        command = os.environ.get("MNEME_SERVE_BIN") or Path(sys.executable).parent / "mneme"
        self.log = cache.with_suffix(".log")
        self.process = subprocess.Popen(
            [str(command), "serve", "--cache", str(cache), "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, stderr=open(self.log, "w"), text=True,
        )
        first = self.process.stdout.readline()
        if not first.startswith("mneme serve: listening on "):
            self.process.kill()
            raise AssertionError(f"mneme serve did not start: {first}{self.log.read_text()}")
        self.base = first.split()[-1]
        self.banner = [first] + [self.process.stdout.readline() for _ in range(4)]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)
