"""The whole account and todo scenario through a client openapi-python-client generated from the
live document, and nothing else: no HTTP of our own.

Usage: scenario.py <directory holding the generated package> <package name> <base URL>

Operations are looked up by method and path (read from each generated module), and request
bodies are built with the model class the generated function is annotated with, so renamed
operationIds, tags or component schemas do not break the script; only the API's contract does.
"""

import importlib
import json
import pkgutil
import re
import sys
import typing
import uuid

sys.path.insert(0, sys.argv[1])
pkg = importlib.import_module(sys.argv[2])
api = importlib.import_module(f"{sys.argv[2]}.api")
client_mod = importlib.import_module(f"{sys.argv[2]}.client")
base = sys.argv[3]

# (method, path template) -> the generated module of that operation.
OPERATIONS = {}
for info in pkgutil.walk_packages(api.__path__, f"{api.__name__}."):
    mod = importlib.import_module(info.name)
    src = open(mod.__file__, encoding="utf-8").read() if not info.ispkg else ""
    method, url = re.search(r'"method": "(\w+)"', src), re.search(r'"url": "([^"]+)"', src)
    if method and url:
        OPERATIONS[(method.group(1).upper(), url.group(1))] = mod


def fail(step, what):
    sys.exit(f"python client scenario: step '{step}' failed: {what}")


def call(step, method, path, status, client, body=None, **params):
    """Calls one operation; checks the status; returns the parsed answer."""
    mod = OPERATIONS.get((method, path)) or fail(step, f"no generated operation {method} {path}")
    if body is not None:  # a dict becomes the model the function expects
        params["body"] = typing.get_type_hints(mod.sync_detailed)["body"].from_dict(body)
    response = mod.sync_detailed(client=client, **params)
    if response.status_code != status:
        fail(step, f"{method} {path}: status {int(response.status_code)}, expected {status}: "
             f"{response.content[:300]!r}")
    return response.parsed


def expect(step, condition, what):
    if not condition:
        fail(step, what)


anonymous = client_mod.Client(base_url=base)
authed = lambda token: client_mod.AuthenticatedClient(base_url=base, token=token)  # noqa: E731
email, password = f"py-{uuid.uuid4().hex[:12]}@example.com", "py client pass"
credentials = {"email": email, "password": password}

user = call("signup", "POST", "/signup", 200, anonymous, credentials)
expect("signup", user.email == email and str(user.id), f"unexpected user {user.to_dict()}")
token = call("login", "POST", "/users/login", 200, anonymous, credentials).token
expect("login", isinstance(token, str) and token.count(".") == 2, f"not a JWT: {token!r}")
me = authed(token)
who = call("whoAmI", "GET", "/whoAmI", 200, me)
expect("whoAmI", str(who).strip() == str(user.id), f"whoAmI {who!r} is not {user.id}")

todos = [call(f"create todo {i}", "POST", "/todos", 200, me,
              {"title": title, "desc": f"d{i}", "isComplete": i == 0})
         for i, title in enumerate(["alpha", "beta", "gamma"])]
expect("create", [t.title for t in todos] == ["alpha", "beta", "gamma"], "titles differ")
ids = [t.id for t in todos]

flt = {"where": {"isComplete": False}, "order": "title DESC", "limit": 5}
listed = call("list with filter", "GET", "/todos", 200, me, filter_=json.dumps(flt))
expect("list with filter", [t.title for t in listed] == ["gamma", "beta"],
       f"got {[t.to_dict() for t in listed]}")
count = call("count", "GET", "/todos/count", 200, me, where=json.dumps({"title": {"like": "%a"}}))
expect("count", count.count == 3, f"count {count.count}, expected 3")
one = call("get one", "GET", "/todos/{id}", 200, me, id=ids[1])
expect("get one", one.id == ids[1] and one.title == "beta", f"got {one.to_dict()}")

call("PATCH one", "PATCH", "/todos/{id}", 204, me, {"title": "beta 2"}, id=ids[1])
call("PUT one", "PUT", "/todos/{id}", 204, me, {"title": "gamma 2"}, id=ids[2])
replaced = call("get after PUT", "GET", "/todos/{id}", 200, me, id=ids[2])
expect("PUT one", replaced.to_dict() == {"id": ids[2], "title": "gamma 2"},
       f"PUT keeps only what it sends, got {replaced.to_dict()}")
patched = call("bulk PATCH", "PATCH", "/todos", 200, me, {"isComplete": True},
               where=json.dumps({"title": {"inq": ["beta 2", "gamma 2"]}}))
expect("bulk PATCH", patched.count == 2, f"count {patched.count}, expected 2")
call("DELETE one", "DELETE", "/todos/{id}", 204, me, id=ids[0])
left = call("list after DELETE", "GET", "/todos", 200, me)
expect("DELETE one", sorted(t.id for t in left) == ids[1:] and all(t.is_complete for t in left),
       f"got {[t.to_dict() for t in left]}")

sessions = call("list sessions", "GET", "/users/me/sessions", 200, me)
expect("list sessions", sum(s.current for s in sessions) == 1, "not exactly one current session")

pair = call("refresh-login", "POST", "/users/refresh-login", 200, anonymous, credentials)
expect("refresh-login", pair.access_token and pair.refresh_token, f"got {pair.to_dict()}")
rotated = call("refresh", "POST", "/refresh", 200, anonymous, {"refreshToken": pair.refresh_token})
expect("refresh", rotated.refresh_token and rotated.refresh_token != pair.refresh_token,
       "the refresh token was not rotated")
call("whoAmI with refreshed token", "GET", "/whoAmI", 200, authed(rotated.access_token))

call("logout", "POST", "/users/logout", 204, me)
# The typed error: the generated client parses the 401 body into the error envelope's model.
err = call("typed error after logout", "GET", "/whoAmI", 401, me)
code, message = getattr(err.error, "code", None), getattr(err.error, "message", None)
expect("typed error after logout", isinstance(code, str) and code and isinstance(message, str)
       and message and err.error.status_code == 401, f"got {err!r}")
print(f"python client: logged-out token -> 401 {code}: {message}")

again = authed(call("log in again", "POST", "/users/login", 200, anonymous, credentials).token)
call("delete account", "DELETE", "/users/me", 204, again, {"password": password})
gone = call("login after deletion", "POST", "/users/login", 401, anonymous, credentials)
expect("login after deletion", gone.error.status_code == 401, f"got {gone!r}")
print("python client: scenario passed")
