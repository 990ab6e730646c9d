#!/usr/bin/env python3
"""A real SMTP server for the tests and the benchmark: aiosmtpd (PyPI) on
127.0.0.1:PORT. Each message it accepts is written to DIR as `<n>.eml` (the
raw message) and `<n>.json` (envelope recipients, decoded subject and plain
text body, read with Python's `email` package), the JSON last and renamed
into place so a reader never sees half a message.

Usage: smtp_sink.py --port PORT --dir DIR      (stops on SIGTERM/SIGINT)
"""
import argparse
import email
import email.policy
import itertools
import json
import os
import signal
import threading
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count()
        self.lock = threading.Lock()

    def _write(self, name, data):
        tmp = os.path.join(self.directory, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.directory, name))

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        with self.lock:
            stem = f"{time.time_ns()}-{next(self.counter)}"
        message = email.message_from_bytes(raw, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message.get("From", "")),
            "to": str(message.get("To", "")),
            "subject": str(message.get("Subject", "")),
            "body": body.get_content() if body is not None else "",
        }
        self._write(stem + ".eml", raw)
        self._write(stem + ".json", json.dumps(record, ensure_ascii=False).encode("utf-8"))
        return "250 Message accepted"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    print(f"smtp sink on 127.0.0.1:{args.port} writing to {args.dir}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
