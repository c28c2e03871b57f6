"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS) that let the fuzzing reach every
operation behind the first credential check: each authenticated operation gets a valid token,
and the operations that need more get it too.

- Operations that end what they are given (logout, logout-all, deleting a session, the account,
  changing the password or the address: 3 address changes an hour per account) use an account
  of their own, replaced by a fresh one after each success.
- The second-factor operations use an account set up as they need: an enrolment waiting for a
  code (verify), an active factor (new recovery codes, removal), and for `POST /users/login/mfa`
  the first-factor token of a login to such an account.
- Every other case (so the fuzzer's own values are tried too) has its `password`,
  `currentPassword` and `code` replaced by the right ones (an app's code for verify, a recovery
  code elsewhere: app codes cannot be replayed within their 30 s), `DELETE
  /users/me/sessions/{id}` and `/todos/{id}` the id of a session or todo that exists, and the
  three operations that take a mailed token (verify-email, password-reset/confirm,
  me/email/confirm) a fresh one, read from the mail the server wrote as files.

E2E_BASE_URL names the server, E2E_MAIL_DIR its `<data dir>/mail`. Only this file talks
HTTP of its own, to set accounts up.
"""

import glob
import itertools
import os
import re
import time

import pyotp
import requests
import schemathesis

BASE = os.environ["E2E_BASE_URL"]
MAIL_DIR = os.environ["E2E_MAIL_DIR"]
PASSWORD = "schemathesis password"
http = requests.Session()
serial = itertools.count()

# Operation -> the second-factor state its account needs.
FACTOR = {
    "POST /users/me/mfa/totp/verify": "pending",
    "POST /users/me/mfa/recovery-codes": "active",
    "DELETE /users/me/mfa/totp": "active",
    "POST /users/login/mfa": "active",
}
# Operations after whose success their account is replaced.
SPENDING = set(FACTOR) | {
    "POST /users/logout", "POST /users/logout-all", "DELETE /users/me", "PUT /users/me/password",
    "PUT /users/me/email", "DELETE /users/me/sessions/{id}",
}


def send(method, path, body=None, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = http.request(method, BASE + path, json=body, headers=headers, timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


class Account:
    """A new account, logged in; with an enrolled (`pending`) or `active` second factor."""

    def __init__(self, factor=None):
        self.email = f"schemathesis-{os.getpid()}-{next(serial)}@example.com"
        send("POST", "/signup", {"email": self.email, "password": PASSWORD})
        self.token = self.login()["token"]
        self.totp, self.recovery = None, []
        if factor:
            self.totp = pyotp.TOTP(send("POST", "/users/me/mfa/totp", token=self.token)["secret"])
        if factor == "active":
            verified = send("POST", "/users/me/mfa/totp/verify", {"code": self.totp.now()}, self.token)
            self.recovery = verified["recoveryCodes"]

    def login(self):
        return send("POST", "/users/login", {"email": self.email, "password": PASSWORD})

    def code(self):
        return self.recovery.pop() if self.recovery else self.totp.now()


def mailed_token(to, subject):
    """The token of the newest message to `to` with `subject`, waiting for it."""
    for _ in range(100):
        files = glob.glob(os.path.join(MAIL_DIR, "message-*.eml"))
        newest = sorted(files, key=lambda f: int(re.sub(r"\D", "", os.path.basename(f))), reverse=True)
        for path in newest[:50]:
            text = open(path, encoding="utf-8", errors="replace").read().replace("\r", "")
            if f"To: {to}\n" in text and f"Subject: {subject}\n" in text:
                return re.search(r"#token=([A-Za-z0-9_-]+)", text).group(1)
        time.sleep(0.1)
    raise AssertionError(f"no message '{subject}' to {to}")


# Operations taking a mailed token -> what makes the server mail one for a new account: the
# address it goes to, and its subject.
def ask_reset(account):
    send("POST", "/users/password-reset", {"email": account.email})
    return account.email, "Reset your password"


def ask_move(account):
    new = "moved-" + account.email
    send("PUT", "/users/me/email", {"newEmail": new, "password": PASSWORD}, account.token)
    return new, "Confirm your new email address"


MAILED = {
    "POST /users/verify-email": lambda account: (account.email, "Confirm your email address"),
    "POST /users/password-reset/confirm": ask_reset,
    "POST /users/me/email/confirm": ask_move,
}

accounts = {}  # operation -> its account (the shared one under None)
turn = itertools.count()


def account_for(operation):
    key = operation if operation in SPENDING else None
    if key not in accounts:
        accounts[key] = Account(FACTOR.get(operation))
    return accounts[key]


@schemathesis.hook
def before_call(context, case, **kwargs):
    operation = case.operation.label
    if operation in MAILED:
        if next(turn) % 2 == 0 and isinstance(case.body, dict) and isinstance(case.body.get("token"), str):
            case.body["token"] = mailed_token(*MAILED[operation](Account()))
        return
    if not case.operation.definition.raw.get("security", [{}]):
        return  # a public operation (`security: []`): nothing to add
    account = account_for(operation)
    token = account.token
    if operation == "POST /users/login/mfa":
        token = account.login()["token"]  # a first-factor token, waiting for the code
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    if next(turn) % 2:
        return  # this case keeps what the fuzzer generated
    if isinstance(case.body, dict):
        for field in ("password", "currentPassword"):
            if isinstance(case.body.get(field), str):
                case.body[field] = PASSWORD
        if isinstance(case.body.get("code"), str) and account.totp:
            case.body["code"] = account.code()
    if operation == "DELETE /users/me/sessions/{id}":
        case.path_parameters = {"id": send("GET", "/users/me/sessions", token=token)[0]["id"]}
    elif case.operation.path == "/todos/{id}":
        todo = send("POST", "/todos", {"title": "schemathesis"}, token)
        case.path_parameters = {**(case.path_parameters or {}), "id": todo["id"]}


@schemathesis.hook
def after_call(context, case, response):
    operation = case.operation.label
    spent = 200 <= response.status_code < 300
    if operation == "PUT /users/me/email":  # each request with the right password counts
        spent = spent or response.status_code in (400, 409, 429)
    if operation in SPENDING and spent:
        accounts.pop(operation, None)  # the next case gets a fresh account
