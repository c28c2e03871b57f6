"""The API explorer in a real browser (headless Chromium through chromedriver).

A user created through the API authorizes in Swagger UI's Authorize dialog, first by pasting a
token (the `jwt` scheme), then by email and password (the `password` OAuth2 scheme), and each
time executes GET /todos from the page and sees a 200 rendered, with every one of the user's
todos: the `filter` box is empty, not pre-filled with an example that selects some of them. A screenshot of that state is
written to the path given as the second argument.

    python explorer_test.py http://127.0.0.1:3000 screenshot.png
"""

import json
import sys
import urllib.request
import uuid

import chromium
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

BASE, SCREENSHOT = sys.argv[1], sys.argv[2]
WAIT = 20
TODOS = [("seen from the explorer", False), ("also seen, though done", True)]
# Swagger UI's DOM id for an operation: tag and operationId, with the id's `.` escaped.
LIST_TODOS = "operations-TodoController-TodoController\\.find"


def post_json(path, body):
    request = urllib.request.Request(
        BASE + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def make_user():
    email = f"explorer-{uuid.uuid4().hex[:8]}@example.com"
    password = "explorer-password"
    post_json("/signup", {"email": email, "password": password})
    token = post_json("/users/login", {"email": email, "password": password})["token"]
    # One done, one not: a filter pre-filled from an example would likely hide one of them.
    for title, done in TODOS:
        post_json_auth("/todos", {"title": title, "isComplete": done}, token)
    return email, password, token


def post_json_auth(path, body, token):
    request = urllib.request.Request(
        BASE + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def browser():
    return chromium.browser()


def open_explorer(driver):
    driver.get(BASE + "/explorer/")
    wait = WebDriverWait(driver, WAIT)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    operations = driver.find_elements(By.CSS_SELECTOR, ".opblock")
    assert len(operations) >= 12, f"expected every operation, found {len(operations)}"
    return wait


def authorize_dialog(driver, wait):
    driver.find_element(By.CSS_SELECTOR, "button.authorize").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".modal-ux .auth-container")))
    return driver.find_elements(By.CSS_SELECTOR, ".modal-ux .auth-container")


def container_for(containers, name):
    for container in containers:
        if name in container.text:
            return container
    raise AssertionError(f"no {name} scheme in the Authorize dialog: {[c.text for c in containers]}")


def close_dialog(driver):
    driver.find_element(By.CSS_SELECTOR, ".modal-ux button.btn-done").click()


def execute_list_todos(driver, wait, filter_text=None):
    # XPath: the id holds a backslash, which a CSS selector would read as an escape.
    block = driver.find_element(By.XPATH, f"//*[@id='{LIST_TODOS}']")
    if "is-open" not in block.get_attribute("class"):
        block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    try_out = wait.until(lambda d: block.find_element(By.CSS_SELECTOR, ".try-out__btn"))
    if "cancel" not in try_out.get_attribute("class"):
        try_out.click()
    # A text box (Swagger UI would show a file picker for a string with a contentMediaType,
    # but for explorer.js), and empty: no example pre-fills it.
    box = wait.until(
        lambda d: block.find_element(By.CSS_SELECTOR, "tr[data-param-name='filter'] input")
    )
    assert box.get_attribute("type") == "text", f"the filter box is a {box.get_attribute('type')} input"
    if filter_text is None:
        assert box.get_attribute("value") == "", f"the filter box is pre-filled: {box.get_attribute('value')!r}"
    else:
        box.clear()
        box.send_keys(filter_text)
    wait.until(lambda d: block.find_element(By.CSS_SELECTOR, "button.execute")).click()
    row = ".live-responses-table tr.response"
    status = wait.until(lambda d: block.find_element(By.CSS_SELECTOR, f"{row} .response-col_status"))
    wait.until(lambda d: status.text.strip() != "")
    # The body is rendered (highlighted) a moment after the status.
    body = wait.until(lambda d: block.find_element(By.CSS_SELECTOR, f"{row} .highlight-code pre"))
    wait.until(lambda d: body.text.strip() != "")
    return status.text.strip(), body.text, block


def main():
    email, password, token = make_user()
    driver = browser()
    try:
        # 1. Paste a token.
        wait = open_explorer(driver)
        jwt = container_for(authorize_dialog(driver, wait), "jwt")
        jwt.find_element(By.CSS_SELECTOR, "input").send_keys(token)
        jwt.find_element(By.CSS_SELECTOR, "button.authorize").click()
        wait.until(lambda d: "Logout" in container_for(d.find_elements(By.CSS_SELECTOR, ".modal-ux .auth-container"), "jwt").text)
        close_dialog(driver)
        status, body, _ = execute_list_todos(driver, wait)
        assert status == "200", f"GET /todos with a pasted token answered {status}: {body}"
        assert all(title in body for title, _ in TODOS), body
        print("explorer: pasted token -> GET /todos 200, every todo")
        summaries = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-description")]
        assert summaries and not any("`" in summary for summary in summaries), summaries
        status, body, block = execute_list_todos(driver, wait, '{"where":{"isComplete":true}}')
        assert status == "200", f"GET /todos with a typed filter answered {status}: {body}"
        # Waits for the new response to replace the previous one.
        def selected(d):
            shown = block.find_element(By.CSS_SELECTOR, ".live-responses-table .highlight-code pre").text
            return [title for title, _ in TODOS if title in shown]
        wait.until(lambda d: selected(d) == ["also seen, though done"])
        print("explorer: a typed filter -> GET /todos 200, the todos it selects")

        # 2. Log in by password through the OAuth2 password flow.
        wait = open_explorer(driver)
        assert driver.title == "todo-jwt API explorer", driver.title
        password_scheme = container_for(authorize_dialog(driver, wait), "password")
        # Only the email and password are asked for: no client id or secret, no scopes.
        for hidden in ['[id^="client_id"]', '[id^="client_secret"]', "#password_type"]:
            fields = password_scheme.find_elements(By.CSS_SELECTOR, hidden)
            assert fields, f"Swagger UI no longer has {hidden}: check what the dialog shows"
            for field in fields:
                assert not field.is_displayed(), f"{hidden} is shown in the password dialog"
        assert "client_secret" not in password_scheme.text, password_scheme.text
        assert "scopes" not in password_scheme.text.lower(), password_scheme.text
        password_scheme.find_element(By.CSS_SELECTOR, "#oauth_username").send_keys(email)
        password_scheme.find_element(By.CSS_SELECTOR, "#oauth_password").send_keys(password)
        password_scheme.find_element(By.CSS_SELECTOR, "button.authorize").click()
        wait.until(lambda d: "Logout" in container_for(d.find_elements(By.CSS_SELECTOR, ".modal-ux .auth-container"), "password").text)
        close_dialog(driver)
        status, body, block = execute_list_todos(driver, wait)
        assert status == "200", f"GET /todos after the password flow answered {status}: {body}"
        assert all(title in body for title, _ in TODOS), body
        driver.execute_script("arguments[0].scrollIntoView()", block)
        driver.save_screenshot(SCREENSHOT)
        print("explorer: password flow -> GET /todos 200")
        print(f"explorer: screenshot written to {SCREENSHOT}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
