"""CORS in a real browser (headless Chromium through chromedriver).

A page served from another origin logs in with fetch (a JSON body: preflighted) and calls
GET /todos with `Authorization: Bearer` (preflighted for that header), then reads the JSON. Against
a server that allows only one origin, the same calls from a page on a second origin fail in the
browser (fetch rejects), while the allowed origin still works.

    python cors_test.py API_ANY API_LISTED ALLOWED_PAGE OTHER_PAGE

API_ANY runs with the default `TODO_JWT_CORS_ORIGINS` (*), API_LISTED with
`TODO_JWT_CORS_ORIGINS=ALLOWED_PAGE`; the two pages are any HTTP servers on other ports.
"""

import json
import sys
import urllib.request
import uuid

import chromium

API_ANY, API_LISTED, ALLOWED_PAGE, OTHER_PAGE = sys.argv[1:5]

# Runs in the page: log in, create nothing, list todos with the bearer token; resolves with
# what the page could read, or with the error fetch rejected with.
SCRIPT = """
const [api, email, password, done] = arguments;
(async () => {
  try {
    const login = await fetch(api + "/users/login", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({email, password}),
    });
    const {token} = await login.json();
    const todos = await fetch(api + "/todos", {headers: {"Authorization": "Bearer " + token}});
    done({status: todos.status, body: await todos.json(),
          requestId: todos.headers.get("X-Request-Id")});
  } catch (error) {
    done({error: String(error)});
  }
})();
"""


def call(path, body, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(path, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def make_user(api):
    email = f"cors-{uuid.uuid4().hex[:8]}@example.com"
    password = "cors-password"
    call(api + "/signup", {"email": email, "password": password})
    token = call(api + "/users/login", {"email": email, "password": password})["token"]
    call(api + "/todos", {"title": "read across origins"}, token)
    return email, password


def browser():
    driver = chromium.browser()
    driver.set_script_timeout(20)
    return driver


def from_page(driver, page, api, user):
    driver.get(page + "/")
    origin = driver.execute_script("return location.origin")
    assert origin == page, f"the page's origin is {origin}, not {page}"
    return driver.execute_async_script(SCRIPT, api, *user)


def assert_read(result, where):
    assert "error" not in result, f"{where}: fetch failed: {result['error']}"
    assert result["status"] == 200, f"{where}: {result}"
    titles = [todo["title"] for todo in result["body"]]
    assert titles == ["read across origins"], f"{where}: {titles}"
    assert result["requestId"], f"{where}: X-Request-Id is not exposed to the page"


def main():
    any_user, listed_user = make_user(API_ANY), make_user(API_LISTED)
    driver = browser()
    try:
        assert_read(from_page(driver, OTHER_PAGE, API_ANY, any_user), "any origin (*)")
        print("cors: default (*): a page on another origin logs in and reads GET /todos")
        assert_read(from_page(driver, ALLOWED_PAGE, API_LISTED, listed_user), "listed origin")
        print("cors: listed origin: logs in and reads GET /todos")
        refused = from_page(driver, OTHER_PAGE, API_LISTED, listed_user)
        assert "error" in refused and "Failed to fetch" in refused["error"], refused
        print(f"cors: origin not listed: the browser refuses ({refused['error']})")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
