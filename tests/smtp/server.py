"""The test SMTP server: aiosmtpd (pinned by requirements.txt) on 127.0.0.1:PORT. Each message
it accepts is written to DIR as one JSON file: the envelope (mail_from, rcpt_tos), how it came
(tls: after STARTTLS; login: the user that authenticated), and the parsed message (subject,
message_id, from, to, the text/plain and text/html bodies decoded), so the Rust tests read what
a mail client would show. A recipient whose address starts with "refuse-" is refused (550).
With CERT and KEY it offers STARTTLS (not required), and AUTH PLAIN/LOGIN (not required; only
the user "wharf" with the password "smtp-test-password" passes; 535 for any other).

    python server.py PORT DIR [CERT KEY]
"""
import email
import email.policy
import json
import os
import sys
import time
import uuid

import ssl

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Keep:
    def __init__(self, folder):
        self.folder = folder

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refuse-"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        bodies = {}
        for part in msg.walk():
            kind = part.get_content_type()
            if kind in ("text/plain", "text/html") and kind not in bodies:
                bodies[kind] = part.get_content()
        record = {
            "mail_from": envelope.mail_from,
            "tls": session.ssl is not None,
            "login": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg.get("Subject", "")),
            "message_id": str(msg.get("Message-ID", "")),
            "from": str(msg.get("From", "")),
            "to": str(msg.get("To", "")),
            "text": bodies.get("text/plain", ""),
            "html": bodies.get("text/html", ""),
        }
        name = f"{time.time_ns()}-{uuid.uuid4().hex}.json"
        tmp = os.path.join(self.folder, "." + name)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.folder, name))
        return "250 Message accepted for delivery"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"wharf" and auth_data.password == b"smtp-test-password"
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def main():
    port, folder = int(sys.argv[1]), sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    options = {}
    if len(sys.argv) == 5:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
        options = dict(tls_context=context, require_starttls=False, authenticator=authenticate,
                       auth_required=False, auth_require_tls=False)
    controller = Controller(Keep(folder), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print(f"test SMTP server on 127.0.0.1:{port}, messages in {folder}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
