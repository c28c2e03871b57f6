"""A lost password, end to end in a real browser (headless Chromium through chromedriver).

A user signs up and logs in through the API, asks for a reset, and the message the service wrote
(the default transport: `.eml` files in the data directory) gives the link. Chromium opens it,
the page's form sets a new password, and then: the new password logs in, the old one and the old
session are refused, the token does not work twice, and the verification link from the signup
message confirms the address in the page too; an address change is confirmed through its page.

    python reset_test.py http://127.0.0.1:3000 /path/to/data-dir
"""

import glob
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
import uuid

import chromium
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BASE, DATA_DIR = sys.argv[1], sys.argv[2]
WAIT = 20


def call(method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def message_for(email, subject):
    """The link in the newest .eml to `email` with `subject`, waiting for it."""
    deadline = time.time() + WAIT
    while time.time() < deadline:
        for path in sorted(glob.glob(os.path.join(DATA_DIR, "mail", "*.eml")), key=os.path.getmtime, reverse=True):
            text = open(path, encoding="ascii").read()
            if f"To: {email}" in text and f"Subject: {subject}" in text:
                return re.search(r"(http://\S+#token=[A-Za-z0-9_-]+)", text).group(1)
        time.sleep(0.2)
    raise AssertionError(f"no message '{subject}' to {email} within {WAIT} s")


def status_text(driver, expected):
    WebDriverWait(driver, WAIT).until(lambda d: expected in d.find_element(By.ID, "status").text)
    return driver.find_element(By.ID, "status").text


email = f"reset-{uuid.uuid4().hex[:8]}@example.com"
old, new = "the old password", "a new password, chosen in the page"
assert call("POST", "/signup", {"email": email, "password": old})[0] == 200
status, body = call("POST", "/users/login", {"email": email, "password": old})
assert status == 200, body
session = json.loads(body)["token"]
assert call("POST", "/users/password-reset", {"email": email})[0] == 202
reset_link = message_for(email, "Reset your password")
verify_link = message_for(email, "Confirm your email address")

driver = chromium.browser("1000,900")
try:
    driver.get(reset_link)
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "reset").is_displayed())
    assert "#token" not in driver.current_url, "the token stays in the address bar"
    driver.find_element(By.ID, "password").send_keys(new)
    driver.find_element(By.ID, "again").send_keys(new)
    driver.find_element(By.ID, "submit").click()
    print("reset page:", status_text(driver, "Your password is set"))

    driver.get("about:blank")  # else only the fragment changes, and the page does not reload
    driver.get(reset_link)
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "reset").is_displayed())
    driver.find_element(By.ID, "password").send_keys("yet another password")
    driver.find_element(By.ID, "again").send_keys("yet another password")
    driver.find_element(By.ID, "submit").click()
    print("the same link again:", status_text(driver, "does not work"))

    driver.get(verify_link)
    status_text(driver, "This confirms")  # nothing sent until the button is pressed
    driver.find_element(By.ID, "confirm").click()
    print("verification page:", status_text(driver, "is confirmed"))

    status, body = call("POST", "/users/login", {"email": email, "password": new})
    assert status == 200, body
    moved = "moved-" + email
    status, body = call("PUT", "/users/me/email", {"newEmail": moved, "password": new},
                        token=json.loads(body)["token"])
    assert status == 202, body
    driver.get(message_for(moved, "Confirm your new email address"))
    status_text(driver, "This moves your account")
    assert call("POST", "/users/login", {"email": moved, "password": new})[0] == 401, "moved before the button"
    driver.find_element(By.ID, "confirm").click()
    print("address change page:", status_text(driver, "now has this address"))

    # A notice's link to /reset-password (no token) asks for a reset link.
    driver.get(BASE + "/reset-password")
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "request").is_displayed())
    driver.find_element(By.ID, "email").send_keys(moved)
    driver.find_element(By.ID, "send").click()
    print("reset request page:", status_text(driver, "on its way"))
    message_for(moved, "Reset your password")
finally:
    driver.quit()

assert call("POST", "/users/login", {"email": moved, "password": new})[0] == 200, "the new password"
assert call("POST", "/users/login", {"email": email, "password": new})[0] == 401, "the old address"
assert call("POST", "/users/login", {"email": moved, "password": old})[0] == 401, "the old password"
assert call("GET", "/whoAmI", token=session)[0] == 401, "the old session"
print("e2e reset: the page set the password; the new one logs in, the old one and its session do not;")
print("e2e address change: the page moved the account; the new address logs in, the old one does not")
